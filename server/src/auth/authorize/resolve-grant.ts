import type { Queryable } from '../../db/database.ts';
import type { BrowserDeps } from '../pages/common.ts';
import { type AppUser, userKind } from '../users/index.ts';
import { hasPatientScopes, hasResourceScopes, scopesForUser } from './check-scope.ts';
import { AccessDenied, type AuthorizeError, InvalidScope } from './errors.ts';
import { linkedPatients } from './patients.ts';
import type { PendingRequest } from './request-store.ts';

/**
 * What this person can grant this request: the scopes that fit them (check-scope
 * `scopesForUser`) and the launch context (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * - EHR launch: patient and encounter from the launch context;
 * - standalone `launch/patient` (or any patient/ scope): a patient's own record is bound
 *   automatically; a practitioner or related person picks (needsPick until they have).
 * A patient may only ever be bound to their own record, a related person only to the patients
 * their RelatedPerson links to.
 */
export interface Grant {
  scopes: string[];
  patient?: string;
  encounter?: string;
  needsPick: boolean;
}

export async function resolveGrant(deps: BrowserDeps, pending: PendingRequest, user: AppUser): Promise<Grant | AuthorizeError> {
  const kind = userKind(user);
  let scopes = scopesForUser(pending.scopes, kind, user.roles);
  if (!hasResourceScopes(scopes) && !scopes.includes('launch/patient') && !scopes.includes('launch')) {
    return new InvalidScope(`None of the requested scopes fit a ${kind} account`);
  }
  const ownId = kind === 'patient' ? user.fhirUser.slice('Patient/'.length) : undefined;
  let patient = pending.launch?.patient;
  const encounter = pending.launch?.encounter;
  const wantsPatient = scopes.includes('launch/patient') || hasPatientScopes(scopes);
  if (!patient && wantsPatient) patient = ownId ?? pending.patient;

  if (patient && kind === 'patient' && patient !== ownId) return new AccessDenied('A patient may only open their own record');
  if (patient && kind === 'related-person') {
    const linked = await linkedPatients(deps.db, deps.config, pending.tenant, user.fhirUser);
    if (!linked.some((p) => p.id === patient)) return new AccessDenied('This person is not linked to the patient');
  }
  if (!patient && wantsPatient) return { scopes, needsPick: true };
  // Launch scopes the context cannot satisfy are not granted (SMART: the app must check).
  if (!encounter) scopes = scopes.filter((s) => s !== 'launch/encounter');
  if (!pending.launch) scopes = scopes.filter((s) => s !== 'launch');
  return { scopes, patient, encounter, needsPick: false };
}

const key = (scopes: string[]) => [...scopes].sort().join(' ');

/**
 * Consent remembered (table consent_approval, migrations 004 and 010): per user, app, scopes and
 * patient in context ('' when the grant has none), so approving an app for one patient never
 * approves it silently for another.
 */
export async function isRemembered(db: Queryable, tenant: string, userId: string, clientId: string, scopes: string[], patient: string | undefined): Promise<boolean> {
  const r = await db.query('SELECT 1 FROM consent_approval WHERE tenant = $1 AND user_id = $2 AND client_id = $3 AND patient = $4 AND scope = $5', [
    tenant,
    userId,
    clientId,
    patient ?? '',
    key(scopes),
  ]);
  return r.rows.length === 1;
}

export async function remember(db: Queryable, tenant: string, userId: string, clientId: string, scopes: string[], patient: string | undefined): Promise<void> {
  await db.query(
    `INSERT INTO consent_approval (tenant, user_id, client_id, patient, scope) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant, user_id, client_id, patient, scope) DO UPDATE SET approved_at = now()`,
    [tenant, userId, clientId, patient ?? '', key(scopes)]
  );
}
