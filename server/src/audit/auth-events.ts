import type { AuditEventEntity } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../db/database.ts';
import { otherAuditEvent } from './audit-event.ts';
import { insertAuditEvents } from './audit-store.ts';
import { auditTrailFor, scheduleSealEverywhere } from './audit-trail.ts';
import { OBJECT_ROLE, OBJECT_TYPE, USER_ID_SYSTEM, authCodes } from './codes.ts';

/**
 * Authentication and authorization events, recorded as AuditEvents (issue 3 §4). The auth code
 * calls `auditAuthEvent` for each; the audit module decides how it is stored (hash chain,
 * append-only). `detail` is free text for operators: it never carries PHI, passwords, codes or
 * tokens. There is no field for a username typed at a failed login: people type passwords there,
 * so a failure against an unknown name is recorded by address only.
 */
export type AuthAction =
  | 'login'
  | 'logout'
  | 'second-factor'
  | 'lockout'
  | 'consent'
  | 'token-issued'
  | 'token-refreshed'
  | 'token-revoked'
  | 'client-registered'
  | 'client-approved'
  // Admin actions (CLI and the admin API): who did it is the agent, whom or what it touched the `subject`.
  | 'user-created'
  | 'user-unlocked'
  | 'mfa-reset'
  | 'keys-rotated'
  | 'tenant-created'
  | 'user-disabled'
  | 'user-enabled'
  | 'user-roles-changed';

/** The client id an admin CLI action is recorded under (agent `who.identifier`), so the log shows it did not come over HTTP. */
export const ADMIN_CLI_CLIENT = 'admin-cli';

export interface AuthEvent {
  tenant: string;
  action: AuthAction;
  outcome: 'success' | 'failure';
  /** Internal user id, when known. */
  userId?: string;
  /** The person's FHIR resource ('Practitioner/x'), when known. */
  fhirUser?: string;
  clientId?: string;
  /** Client IP address as seen by the server. */
  ip?: string;
  /** Granted scope (token events) or decision (consent: 'approved' / 'denied'). */
  detail?: string;
  /** What an admin action changed, when it is not the agent: a user (by internal id and fhirUser), a tenant, key ids. */
  subject?: { userId?: string; fhirUser?: string; display?: string };
}

/**
 * Records one auth event as an AuditEvent of the event's tenant, at once, on `db` (the caller's
 * transaction when it passes one: the event then commits or rolls back with it). Codes: see
 * ./codes.ts `authCodes` (DICOM 110114 User Authentication with 110122 Login / 110123 Logout,
 * IHE ITI-71 for tokens, our own CodeSystem where no standard code exists).
 */
const DETAIL_TYPE: Partial<Record<AuthAction, string>> = { consent: 'decision', 'token-issued': 'scope', 'token-refreshed': 'scope', 'user-roles-changed': 'roles' };

export async function auditAuthEvent(db: Queryable, event: AuthEvent): Promise<void> {
  if (!event.tenant || !event.action) throw new Error('auth event without tenant or action');
  const codes = authCodes(event.action);
  const entity: AuditEventEntity[] = [];
  const subject = event.subject;
  if (subject) {
    // A user account is a person (Security User Entity); a tenant or a key set a security resource.
    const user = Boolean(subject.fhirUser || subject.userId);
    entity.push({
      ...(subject.fhirUser
        ? { what: { reference: subject.fhirUser, ...(subject.userId ? { identifier: { system: USER_ID_SYSTEM, value: subject.userId } } : {}) } }
        : subject.userId
          ? { what: { identifier: { system: USER_ID_SYSTEM, value: subject.userId } } }
          : {}),
      type: user ? { system: OBJECT_TYPE, code: '1', display: 'Person' } : { system: OBJECT_TYPE, code: '2', display: 'System Object' },
      role: user ? { system: OBJECT_ROLE, code: '11', display: 'Security User Entity' } : { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
      ...(subject.display ? { name: subject.display } : {}),
    });
  }
  if (event.detail) {
    entity.push({
      type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
      detail: [{ type: DETAIL_TYPE[event.action] ?? 'detail', valueString: event.detail }],
    });
  }
  const audit = otherAuditEvent({
    tenant: event.tenant,
    context: { tenant: event.tenant, clientId: event.clientId, scope: '', userId: event.userId, fhirUser: event.fhirUser },
    ip: event.ip,
    type: codes.type,
    subtype: codes.subtype,
    action: codes.action,
    success: event.outcome === 'success',
    outcomeDesc: event.outcome === 'success' ? undefined : `${event.action} failed${event.detail ? `: ${event.detail}` : ''}`,
    entity,
  });
  await insertAuditEvents(db, event.tenant, [audit]);
  // A Database (not a transaction) commits at once: ask for the chain to be sealed.
  if (typeof (db as Partial<Database>).transaction === 'function') auditTrailFor(db as Database).scheduleSeal();
  else scheduleSealEverywhere();
}
