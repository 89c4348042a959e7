import type { Queryable } from '../db/database.ts';

/**
 * Authentication and authorization events, recorded as AuditEvents (issue 3 §4). The auth code
 * calls `auditAuthEvent` for each; the audit module decides how it is stored (hash chain,
 * append-only). `detail` is free text for operators: it never carries PHI, passwords, codes or
 * tokens.
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
  | 'client-approved';

export interface AuthEvent {
  tenant: string;
  action: AuthAction;
  outcome: 'success' | 'failure';
  /** Internal user id, when known. */
  userId?: string;
  /** The person's FHIR resource ('Practitioner/x'), when known. */
  fhirUser?: string;
  /** Username typed at a failed login, when no user matched: kept so brute force shows up. */
  username?: string;
  clientId?: string;
  /** Client IP address as seen by the server. */
  ip?: string;
  /** Granted scope (token events) or decision (consent: 'approved' / 'denied'). */
  detail?: string;
}

/**
 * Records one auth event. Until the audit module lands this only validates its input;
 * callers must already call it at every auth event so nothing is missed when it does.
 */
export async function auditAuthEvent(_db: Queryable, event: AuthEvent): Promise<void> {
  if (!event.tenant || !event.action) throw new Error('auth event without tenant or action');
}
