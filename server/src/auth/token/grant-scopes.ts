import { PURPOSE_SCOPE_PREFIX, requestedPurpose } from '../../access/purpose.ts';
import { type Permission, type ResourceScope, parseScope, parseScopes } from '../../access/scopes.ts';
import type { OAuthClient } from '../clients.ts';
import { InvalidScope } from '../errors.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * Step 6: decide the granted scope. SMART Backend Services: scope is required; "requested scopes
 * will be system/ scopes"; the server "SHALL mediate the request to assure that the scope
 * requested is within the scope pre-authorized to the client".
 * https://hl7.org/fhir/smart-app-launch/backend-services.html#scopes
 *
 * Each requested scope is granted as written when one pre-authorized scope covers it, otherwise
 * as its intersection with each pre-authorized scope (e.g. system/*.read against a registration
 * of system/Observation.rs grants system/Observation.rs). Non-system or malformed scopes are
 * not granted (RFC 6749 §3.3 lets the server grant less than asked; the response says what was
 * granted). Nothing grantable → invalid_scope.
 *
 * A purpose of use is asked for with `purpose/<CODE>` (access/purpose.ts), at most one per token.
 * Unlike a resource scope it is never silently dropped: a client asking for a purpose it is not
 * registered for, or for two, gets invalid_scope, so it never reads under a purpose it did not get.
 */
export function readRequestedScope(params: TokenParameters): string {
  return required(params, 'scope');
}

export function grantScopes(client: OAuthClient, requested: string): string {
  const purpose = requestedPurpose(requested);
  if (purpose === null) throw new InvalidScope('A token carries one purpose of use: request at most one purpose/ scope');
  if (purpose !== undefined && !client.purposes.includes(purpose)) {
    throw new InvalidScope(
      `This client is not registered for purpose of use "${purpose}"${client.purposes.length ? `; it may request: ${client.purposes.map((p) => PURPOSE_SCOPE_PREFIX + p).join(' ')}` : ''}`
    );
  }
  const allowed = parseScopes(client.scope).filter((s) => s.context === 'system');
  const granted = new Set<string>();
  for (const raw of requested.split(' ').filter(Boolean)) {
    const want = parseScope(raw);
    if (!want || want.context !== 'system') continue;
    if (allowed.some((have) => covers(have, want))) {
      granted.add(raw);
      continue;
    }
    for (const have of allowed) {
      const both = intersect(want, have);
      if (both) granted.add(both);
    }
  }
  if (granted.size === 0) {
    throw new InvalidScope(`None of the requested scopes is pre-authorized for this client; it may request: ${client.scope}`);
  }
  if (purpose !== undefined) granted.add(PURPOSE_SCOPE_PREFIX + purpose);
  return [...granted].join(' ');
}

/** `have` allows everything `want` asks for: same or wildcard type, at least its permissions, no narrower query. */
function covers(have: ResourceScope, want: ResourceScope): boolean {
  if (have.resourceType !== '*' && have.resourceType !== want.resourceType) return false;
  for (const p of want.permissions) if (!have.permissions.has(p)) return false;
  if (!have.query) return true;
  const wanted = new Set((want.query ?? []).map(([k, v]) => `${k}=${v}`));
  return have.query.every(([k, v]) => wanted.has(`${k}=${v}`));
}

/** The v2 scope allowing exactly what both allow, or undefined when they share nothing. */
function intersect(want: ResourceScope, have: ResourceScope): string | undefined {
  const type = want.resourceType === '*' ? have.resourceType : have.resourceType === '*' || have.resourceType === want.resourceType ? want.resourceType : undefined;
  if (!type) return undefined;
  const perms = (['c', 'r', 'u', 'd', 's'] as Permission[]).filter((p) => want.permissions.has(p) && have.permissions.has(p));
  if (perms.length === 0) return undefined;
  // Granular constraints combine with AND; keep each side's query text exactly as it was written.
  const queries = [queryText(want.raw), queryText(have.raw)].filter(Boolean);
  return `system/${type}.${perms.join('')}${queries.length ? `?${queries.join('&')}` : ''}`;
}

function queryText(raw: string): string {
  const i = raw.indexOf('?');
  return i < 0 ? '' : raw.slice(i + 1);
}
