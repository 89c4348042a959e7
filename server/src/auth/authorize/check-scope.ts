import { PURPOSE_SCOPES, isPurposeScope, treats } from '../../access/purpose.ts';
import { type ResourceScope, parseScope } from '../../access/scopes.ts';
import type { OAuthClient } from '../clients.ts';
import { InvalidScope } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';
import type { UserKind } from '../users/index.ts';

/**
 * Scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html). A client gets
 * at most what it was registered for (its `scope` column): a resource scope when a registered
 * scope of the same context covers its type and permissions; launch and identity scopes only
 * when registered by name. Scopes beyond that are dropped (RFC 6749 §3.3: the server may grant
 * fewer); none left is `invalid_scope`. A purpose of use (`purpose/TREAT`, access/purpose.ts) is
 * the person's, not the app's: any app may ask for it, and `scopesForUser` keeps it only for
 * people whose roles treat patients.
 */
export const LAUNCH_SCOPES = ['launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'profile', 'offline_access', 'online_access'];

export function checkScope(client: OAuthClient, params: AuthorizeParams): string[] {
  const requested = [...new Set((params.scope ?? '').split(' ').filter(Boolean))];
  if (requested.length === 0) throw new InvalidScope('scope is required');
  const registered = client.scope.split(/\s+/).filter(Boolean);
  const registeredResources = registered.flatMap((s) => parseScope(s) ?? []);
  const granted = requested.filter((s) => {
    if (LAUNCH_SCOPES.includes(s)) return registered.includes(s);
    if (isPurposeScope(s)) return PURPOSE_SCOPES.includes(s);
    const r = parseScope(s);
    return r !== undefined && r.context !== 'system' && registeredResources.some((g) => covers(g, r));
  });
  // offline_access and online_access are alternatives; offline wins when both are asked.
  const result = granted.includes('offline_access') ? granted.filter((s) => s !== 'online_access') : granted;
  if (!result.some((s) => s !== 'openid' && s !== 'fhirUser' && s !== 'profile' && !isPurposeScope(s))) {
    throw new InvalidScope('None of the requested scopes may be granted to this application');
  }
  return result;
}

function covers(g: ResourceScope, r: ResourceScope): boolean {
  if (g.context !== r.context) return false;
  if (g.resourceType !== '*' && g.resourceType !== r.resourceType) return false;
  for (const p of r.permissions) if (!g.permissions.has(p)) return false;
  // A granular registered scope covers only the identical granular request.
  if (g.query) return g.raw === r.raw;
  return true;
}

/**
 * What makes sense for this person: `user/` scopes act with the person's own rights and are
 * only for practitioners; patients and related persons get `patient/` scopes bound to one
 * patient. `launch` (EHR launch) only for practitioners, who are the ones launching from the EHR.
 * A purpose of use only for people whose roles treat patients (clinician, care manager, supervisor).
 */
export function scopesForUser(scopes: string[], kind: UserKind, roles: readonly string[]): string[] {
  const fitting = scopes.filter((s) => !isPurposeScope(s) || (kind === 'practitioner' && treats(roles)));
  if (kind === 'practitioner') return fitting;
  return fitting.filter((s) => !s.startsWith('user/'));
}

export const hasPatientScopes = (scopes: string[]): boolean => scopes.some((s) => s.startsWith('patient/'));
export const hasResourceScopes = (scopes: string[]): boolean => scopes.some((s) => parseScope(s) !== undefined);
