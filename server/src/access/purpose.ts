import type { Queryable } from '../db/database.ts';
import type { Role } from './context.ts';
import { EMERGENCY_TREATMENT, TREATMENT } from './labels.ts';

/**
 * Purpose of use (v3-ActReason) of a person's token: what lets a treating clinician see records
 * labelled restricted, 42 CFR Part 2 or psychotherapy notes (./roles.ts). With no purpose the
 * most restrictive reading holds: those records stay hidden.
 *
 * A person asks for TREAT with the scope `purpose/TREAT` at /auth/authorize. Why a scope and not
 * an authorize parameter: the scope string already travels everywhere a grant goes (consent
 * screen, remembered consent, authorization code, refresh tokens, introspection, the token
 * response telling the app what it got), every SMART client library lets an app ask for extra
 * scopes without code, and a refresh may drop it (narrowing) but never add it. It is granted only
 * to people whose roles treat patients; for anyone else it is silently dropped (RFC 6749 §3.3).
 *
 * ETREAT is never a scope: it comes only from break-glass (auth/break-glass), a window during
 * which every token of that person is read as ETREAT (`breakGlassUntil`).
 */
export const PURPOSE_SCOPE_PREFIX = 'purpose/';
export const TREAT_SCOPE = `${PURPOSE_SCOPE_PREFIX}${TREATMENT}`;
/** The purposes a person may ask for by scope. */
export const PURPOSE_SCOPES = [TREAT_SCOPE];

/** Roles that treat patients: the ones for which TREAT and break-glass mean anything. */
export const TREATING_ROLES: readonly Role[] = ['clinician', 'care-manager', 'supervisor'];

export function treats(roles: readonly string[] | undefined): boolean {
  return (roles ?? []).some((r) => (TREATING_ROLES as readonly string[]).includes(r));
}

export const isPurposeScope = (scope: string): boolean => scope.startsWith(PURPOSE_SCOPE_PREFIX);

/** The purpose of use a granted scope string carries for a person with `roles`, if any. */
export function purposeFromScope(scope: string, roles: readonly string[] | undefined): string | undefined {
  return treats(roles) && scope.split(' ').includes(TREAT_SCOPE) ? TREATMENT : undefined;
}

/**
 * Purposes a backend client may be registered for (`client register --purposes`), codes of
 * http://terminology.hl7.org/CodeSystem/v3-ActReason in the PurposeOfUse value set. ETREAT is
 * not among them: it is a person's break-glass, never a standing registration. A machine's
 * purpose is recorded (token, AuditEvent) and checked against its registration; it opens no
 * records by itself (system tokens keep their own label rules, ./policy.ts).
 */
export const MACHINE_PURPOSES: Readonly<Record<string, string>> = {
  TREAT: 'treatment',
  CAREMGT: 'care management',
  COC: 'coordination of care',
  HPAYMT: 'healthcare payment',
  HOPERAT: 'healthcare operations',
  HQUALIMP: 'healthcare quality improvement',
  HSYSADMIN: 'healthcare system administration',
  HRESCH: 'healthcare research',
  PUBHLTH: 'public health',
};

/** The one purpose a space-separated scope string asks for; undefined for none, null for more than one. */
export function requestedPurpose(scope: string): string | undefined | null {
  const purposes = [...new Set(scope.split(' ').filter(isPurposeScope))];
  if (purposes.length > 1) return null;
  return purposes[0]?.slice(PURPOSE_SCOPE_PREFIX.length);
}

/** Default length of a break-glass window: env BREAK_GLASS_MINUTES. */
export const DEFAULT_BREAK_GLASS_MINUTES = 60;

export function breakGlassMinutes(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BREAK_GLASS_MINUTES ?? DEFAULT_BREAK_GLASS_MINUTES);
  // At most a day: break-glass is for an emergency, not a standing grant.
  return Number.isFinite(n) && n > 0 ? Math.min(n, 24 * 60) : DEFAULT_BREAK_GLASS_MINUTES;
}

/** End of the user's open break-glass window at `now`, if one is open. */
export async function breakGlassUntil(db: Queryable, tenant: string, userId: string, now: Date): Promise<Date | undefined> {
  const { rows } = await db.query<{ expires_at: Date | string }>(
    `SELECT max(expires_at) AS expires_at FROM break_glass WHERE tenant = $1 AND user_id = $2 AND started_at <= $3 AND expires_at > $3`,
    [tenant, userId, now.toISOString()]
  );
  const end = rows[0]?.expires_at;
  return end ? new Date(end) : undefined;
}

export { EMERGENCY_TREATMENT, TREATMENT };
