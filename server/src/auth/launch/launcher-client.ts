import type { Request } from 'express';
import type { AccessPolicy } from '../../access/policy.ts';
import { STAFF_ROLES } from '../../access/context.ts';
import { fail } from '../../kernel/outcome.ts';
import { findClient } from '../clients.ts';
import { type AuthDeps, authenticate } from '../index.ts';
import { findUserById } from '../users/index.ts';

/**
 * Who may create EHR launch contexts through the launch API (POST /auth/launch): a practitioner,
 * signed in to THE EHR LAUNCHER, with that person's own access token. Least privilege, so that
 * no other app a clinician has authorized (even one holding user/*.cruds) can mint launches of
 * other apps in that clinician's name:
 *  - the token is a person's (userId + fhirUser `Practitioner/…`, at least one staff role);
 *    patients and related persons, and backend services, are refused (403);
 *  - its client is the server's own launcher app: an approved, enabled SMART app of the token's
 *    tenant whose registered redirect URIs include `$BASE_URL/apps/launcher/` (where this server
 *    serves apps/launcher). Only that page can receive such a client's codes, and it runs our code.
 *    The demo clinic registers it as client `launcher`; another tenant registers the same app under
 *    any client id with that redirect URI.
 * What the person may see is then decided by the access layer with the same token (the policy).
 */
export function launcherRedirectUri(baseUrl: string): string {
  return `${baseUrl}/apps/launcher/`;
}

export interface Launcher {
  policy: AccessPolicy;
  userId: string;
  fhirUser: string;
}

export async function launcherCaller(deps: AuthDeps, req: Request): Promise<Launcher> {
  const policy = await authenticate(deps, req.get('authorization'));
  const c = policy.context;
  const staff = (c.roles ?? []).some((r) => (STAFF_ROLES as readonly string[]).includes(r));
  if (!c.userId || !c.fhirUser?.startsWith('Practitioner/') || !staff) {
    fail('forbidden', 'Launching apps is for clinic staff signed in to the EHR launcher');
  }
  const client = policy.clientId ? await findClient(deps.db, policy.clientId) : undefined;
  const isLauncher =
    client !== undefined &&
    client.tenant === policy.tenant &&
    client.kind === 'smart-app' &&
    client.status === 'approved' &&
    !client.disabled &&
    client.redirectUris.includes(launcherRedirectUri(deps.config.baseUrl));
  if (!isLauncher) fail('forbidden', 'Only the EHR launcher app may launch apps');
  const user = await findUserById(deps.db, c.userId);
  if (!user || user.disabled || user.tenant !== policy.tenant) fail('forbidden', 'This account may not launch apps');
  return { policy, userId: c.userId, fhirUser: c.fhirUser };
}
