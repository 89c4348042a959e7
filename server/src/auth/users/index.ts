import { randomUUID } from 'node:crypto';
import { STAFF_ROLES, type Role } from '../../access/context.ts';
import type { Queryable } from '../../db/database.ts';
import { secretBoxOf, secretContext } from '../../db/secret-box.ts';
import { fail } from '../../kernel/outcome.ts';
import { getTenant } from '../../tenant/tenants.ts';
import { hashPassword } from './password.ts';
import { isTotpSecret } from './totp.ts';

/**
 * People who log in (table app_user, migration 004): practitioners (staff roles), patients
 * (role 'patient') and related persons (role 'related-person'), each tied to its FHIR resource
 * (`fhirUser`) in one tenant. Secrets (password hash, TOTP secret) never leave this module's
 * tables; `AppUser` carries only whether a TOTP is enrolled. The TOTP secret, which the server
 * must read back to compute codes, is stored encrypted with the server key (db/secret-box.ts).
 */
const totpContext = (tenant: string, id: string) => secretContext('app_user', 'totp_secret', tenant, id);

export interface AppUser {
  tenant: string;
  id: string;
  username: string;
  roles: Role[];
  fhirUser: string;
  displayName: string | undefined;
  totpEnrolled: boolean;
  lockedUntil: Date | undefined;
  disabled: boolean;
}

export type UserKind = 'practitioner' | 'patient' | 'related-person';

/** Practitioners MUST use a second factor; patients and related persons may. */
export function userKind(user: Pick<AppUser, 'fhirUser'>): UserKind {
  if (user.fhirUser.startsWith('Patient/')) return 'patient';
  if (user.fhirUser.startsWith('RelatedPerson/')) return 'related-person';
  return 'practitioner';
}

export interface CreateUserInput {
  tenant: string;
  username: string;
  password: string;
  roles: Role[];
  fhirUser: string;
  displayName?: string;
  /** Base32 TOTP secret, already enrolled (demo users, CLI). */
  totpSecret?: string;
}

/** The roles, deduplicated, checked against the kind of person (fhirUser); throws 'invalid' naming the first that does not fit. */
export function rolesFor(user: Pick<AppUser, 'fhirUser'>, wanted: readonly string[] | undefined): Role[] {
  const roles = [...new Set(wanted ?? [])];
  if (roles.length === 0) fail('invalid', 'A user needs at least one role');
  const kind = userKind(user);
  for (const r of roles) {
    const ok =
      kind === 'practitioner' ? (STAFF_ROLES as readonly string[]).includes(r) : kind === 'patient' ? r === 'patient' : r === 'related-person';
    if (!ok) fail('invalid', `Role "${r}" does not fit ${user.fhirUser} (practitioners: ${STAFF_ROLES.join(', ')}; Patient: patient; RelatedPerson: related-person)`);
  }
  return roles as Role[];
}

const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const FHIR_USER = /^(Practitioner|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/;
export const MIN_PASSWORD = 8;

export async function createUser(db: Queryable, input: CreateUserInput): Promise<AppUser> {
  if (!USERNAME.test(input.username ?? '')) fail('invalid', 'Username must be 1-64 characters of letters, digits, ".", "_", "@" or "-"');
  if (typeof input.password !== 'string' || input.password.length < MIN_PASSWORD) {
    fail('invalid', `Password must have at least ${MIN_PASSWORD} characters`);
  }
  if (!FHIR_USER.test(input.fhirUser ?? '')) fail('invalid', 'fhirUser must be Practitioner/<id>, Patient/<id> or RelatedPerson/<id>');
  const roles = rolesFor(input, input.roles);
  if (input.totpSecret !== undefined && !isTotpSecret(input.totpSecret)) fail('invalid', 'TOTP secret must be base32 of at least 10 bytes');
  if (!(await getTenant(db, input.tenant))) fail('not-found', `Tenant "${input.tenant}" does not exist`);
  const id = randomUUID();
  const r = await db.query(
    `INSERT INTO app_user (tenant, id, username, password_hash, roles, fhir_user, display_name, totp_secret)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id`,
    [
      input.tenant,
      id,
      input.username,
      await hashPassword(input.password),
      roles,
      input.fhirUser,
      input.displayName ?? null,
      input.totpSecret === undefined ? null : secretBoxOf(db).seal(input.totpSecret, totpContext(input.tenant, id)),
    ]
  );
  if (r.rows.length === 0) fail('conflict', `User "${input.username}" already exists in tenant ${input.tenant}`);
  return (await findUserById(db, id))!;
}

const COLUMNS = 'tenant, id, username, roles, fhir_user, display_name, totp_secret IS NOT NULL AS totp_enrolled, locked_until, disabled';

interface UserRow {
  tenant: string;
  id: string;
  username: string;
  roles: string[];
  fhir_user: string;
  display_name: string | null;
  totp_enrolled: boolean;
  locked_until: Date | string | null;
  disabled: boolean;
}

function toUser(row: UserRow): AppUser {
  return {
    tenant: row.tenant,
    id: row.id,
    username: row.username,
    roles: row.roles as Role[],
    fhirUser: row.fhir_user,
    displayName: row.display_name ?? undefined,
    totpEnrolled: row.totp_enrolled,
    lockedUntil: row.locked_until ? new Date(row.locked_until) : undefined,
    disabled: row.disabled,
  };
}

export async function findUserById(db: Queryable, id: string): Promise<AppUser | undefined> {
  const r = await db.query<UserRow>(`SELECT ${COLUMNS} FROM app_user WHERE id = $1`, [id]);
  return r.rows[0] && toUser(r.rows[0]);
}

export async function findUserByUsername(db: Queryable, tenant: string, username: string): Promise<(AppUser & { passwordHash: string }) | undefined> {
  const r = await db.query<UserRow & { password_hash: string }>(
    `SELECT ${COLUMNS}, password_hash FROM app_user WHERE tenant = $1 AND lower(username) = lower($2)`,
    [tenant, username]
  );
  return r.rows[0] && { ...toUser(r.rows[0]), passwordHash: r.rows[0].password_hash };
}

export async function listUsers(db: Queryable, tenant: string): Promise<AppUser[]> {
  const r = await db.query<UserRow>(`SELECT ${COLUMNS} FROM app_user WHERE tenant = $1 ORDER BY username`, [tenant]);
  return r.rows.map(toUser);
}

/** Lockout policy: 5 consecutive failures (password or second factor) lock the account for 15 minutes. */
export const MAX_FAILURES = 5;
export const LOCKOUT_MINUTES = 15;

/** Counts a failure; returns true when this failure locked the account. */
export async function recordFailure(db: Queryable, user: AppUser): Promise<boolean> {
  const r = await db.query<{ locked: boolean }>(
    `UPDATE app_user SET failed_count = failed_count + 1,
       locked_until = CASE WHEN failed_count + 1 >= $3 THEN now() + make_interval(mins => $4) ELSE locked_until END
     WHERE tenant = $1 AND id = $2 RETURNING failed_count >= $3 AS locked`,
    [user.tenant, user.id, MAX_FAILURES, LOCKOUT_MINUTES]
  );
  if (r.rows[0]?.locked) {
    await db.query('UPDATE app_user SET failed_count = 0 WHERE tenant = $1 AND id = $2', [user.tenant, user.id]);
    return true;
  }
  return false;
}

export async function clearFailures(db: Queryable, user: AppUser): Promise<void> {
  await db.query('UPDATE app_user SET failed_count = 0 WHERE tenant = $1 AND id = $2', [user.tenant, user.id]);
}

export async function isLocked(db: Queryable, user: AppUser): Promise<boolean> {
  const r = await db.query<{ locked: boolean }>('SELECT coalesce(locked_until > now(), false) AS locked FROM app_user WHERE tenant = $1 AND id = $2', [
    user.tenant,
    user.id,
  ]);
  return Boolean(r.rows[0]?.locked);
}

export async function userByUsername(db: Queryable, tenant: string, username: string): Promise<AppUser> {
  const user = await findUserByUsername(db, tenant, username);
  if (!user) fail('not-found', `No user "${username}" in tenant ${tenant}`);
  return user;
}

export async function unlockUser(db: Queryable, tenant: string, username: string): Promise<AppUser> {
  const user = await userByUsername(db, tenant, username);
  await db.query('UPDATE app_user SET failed_count = 0, locked_until = NULL WHERE tenant = $1 AND id = $2', [tenant, user.id]);
  return user;
}

/** Forgets the TOTP secret and recovery codes; a practitioner enrols again at the next login. */
export async function resetMfa(db: Queryable, tenant: string, username: string): Promise<AppUser> {
  const user = await userByUsername(db, tenant, username);
  await db.query('UPDATE app_user SET totp_secret = NULL, totp_last_step = NULL WHERE tenant = $1 AND id = $2', [tenant, user.id]);
  await db.query('DELETE FROM user_recovery_code WHERE tenant = $1 AND user_id = $2', [tenant, user.id]);
  return user;
}

export async function setTotpSecret(db: Queryable, user: AppUser, secret: string, usedStep: number): Promise<void> {
  const sealed = secretBoxOf(db).seal(secret, totpContext(user.tenant, user.id));
  await db.query('UPDATE app_user SET totp_secret = $3, totp_last_step = $4 WHERE tenant = $1 AND id = $2', [user.tenant, user.id, sealed, usedStep]);
}

export async function totpSecretOf(db: Queryable, user: AppUser): Promise<string | undefined> {
  const r = await db.query<{ totp_secret: string | null }>('SELECT totp_secret FROM app_user WHERE tenant = $1 AND id = $2', [user.tenant, user.id]);
  const stored = r.rows[0]?.totp_secret;
  return stored ? secretBoxOf(db).open(stored, totpContext(user.tenant, user.id)) : undefined;
}

/** Claims a TOTP step for the user; false if it (or a later one) was used already (no replay). */
export async function claimTotpStep(db: Queryable, user: AppUser, step: number): Promise<boolean> {
  const r = await db.query(
    'UPDATE app_user SET totp_last_step = $3 WHERE tenant = $1 AND id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3) RETURNING 1',
    [user.tenant, user.id, step]
  );
  return r.rows.length === 1;
}

/** Sets the account's disabled flag; the caller revokes what must end with it (account-admin.ts). */
export async function setDisabled(db: Queryable, user: AppUser, disabled: boolean): Promise<void> {
  await db.query('UPDATE app_user SET disabled = $3 WHERE tenant = $1 AND id = $2', [user.tenant, user.id, disabled]);
}

/** Replaces the account's roles (already checked by `rolesFor`). */
export async function setRoles(db: Queryable, user: AppUser, roles: Role[]): Promise<void> {
  await db.query('UPDATE app_user SET roles = $3 WHERE tenant = $1 AND id = $2', [user.tenant, user.id, roles]);
}
