import type { Role } from '../../access/context.ts';
import { type AuthAction, auditAuthEvent } from '../../audit/auth-events.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { fail } from '../../kernel/outcome.ts';
import { revokeGrantsOfUser, supersedeGrantsOfUser } from '../grants.ts';
import { announceRevocation } from '../revocation-channel.ts';
import { endSessionsOfUser } from '../session/index.ts';
import { type AppUser, rolesFor, setDisabled, setRoles, userByUsername } from './index.ts';

/**
 * Offboarding and role changes: the one place a tenant admin (HTTP, users/admin-api.ts) or an
 * operator (CLI, users/cli.ts) disables, enables or re-roles an account. Each action is one
 * transaction: the account, what must end with it, and its AuditEvent; then every server process
 * is told (revocation-channel.ts), so cached tokens stop working at once, not when they expire.
 * - disable: sessions end, every grant is revoked (access and refresh tokens); sign-in is refused.
 * - set roles: the user's access tokens (their claims carry the old roles) are revoked; refresh
 *   tokens live on and the next refresh issues tokens with the new roles (grants.ts
 *   supersedeGrantsOfUser).
 * - enable: the account may sign in again; nothing revoked comes back.
 */
export interface AdminActor {
  /** The tenant admin's user id and FHIR resource (HTTP); absent for the CLI operator. */
  userId?: string;
  fhirUser?: string;
  roles?: Role[];
  clientId?: string;
  ip?: string;
  /** 'cli' is recorded in the AuditEvent's detail: the operator has no account of their own. */
  via: 'api' | 'cli';
}

/** What an admin may see of an account: never secrets. */
export interface AccountView {
  username: string;
  fhirUser: string;
  roles: Role[];
  disabled: boolean;
}

export async function disableUser(db: Database, tenant: string, username: string, actor: AdminActor): Promise<AccountView> {
  return change(db, tenant, username, actor, 'user-disabled', async (tx, user) => {
    if (actor.userId === user.id) fail('invalid', 'An administrator cannot disable their own account', 'username');
    await setDisabled(tx, user, true);
    await endSessionsOfUser(tx, user.tenant, user.id);
    return { view: { ...view(user), disabled: true }, revoked: await revokeGrantsOfUser(tx, user.tenant, user.id) };
  });
}

export async function enableUser(db: Database, tenant: string, username: string, actor: AdminActor): Promise<AccountView> {
  return change(db, tenant, username, actor, 'user-enabled', async (tx, user) => {
    await setDisabled(tx, user, false);
    return { view: { ...view(user), disabled: false }, revoked: [] };
  });
}

export async function setUserRoles(db: Database, tenant: string, username: string, roles: readonly string[], actor: AdminActor): Promise<AccountView> {
  return change(db, tenant, username, actor, 'user-roles-changed', async (tx, user) => {
    const next = rolesFor(user, roles);
    if (actor.userId === user.id && user.roles.includes('tenant-admin') && !next.includes('tenant-admin')) {
      fail('invalid', 'An administrator cannot remove the tenant-admin role from their own account', 'roles');
    }
    const same = next.length === user.roles.length && next.every((r) => user.roles.includes(r));
    if (!same) await setRoles(tx, user, next);
    return {
      view: { ...view(user), roles: next },
      revoked: same ? [] : await supersedeGrantsOfUser(tx, user.tenant, user.id),
      detail: `${user.roles.join(',')} -> ${next.join(',')}`,
    };
  });
}

const view = (u: AppUser): AccountView => ({ username: u.username, fhirUser: u.fhirUser, roles: u.roles, disabled: u.disabled });

async function change(
  db: Database,
  tenant: string,
  username: string,
  actor: AdminActor,
  action: AuthAction,
  apply: (tx: Queryable, user: AppUser) => Promise<{ view: AccountView; revoked: string[]; detail?: string }>
): Promise<AccountView> {
  const done = await db.transaction(async (tx) => {
    // Locked before it is read: two admins changing one account apply one after the other.
    await tx.query('SELECT 1 FROM app_user WHERE tenant = $1 AND lower(username) = lower($2) FOR UPDATE', [tenant, username]);
    const user = await userByUsername(tx, tenant, username);
    const result = await apply(tx, user);
    const detail = [result.detail, actor.via === 'cli' ? 'command line' : undefined].filter(Boolean).join('; ');
    await auditAuthEvent(tx, {
      tenant,
      action,
      outcome: 'success',
      userId: actor.userId,
      fhirUser: actor.fhirUser,
      clientId: actor.clientId,
      ip: actor.ip,
      subject: { fhirUser: user.fhirUser, userId: user.id },
      ...(detail ? { detail } : {}),
    });
    return result;
  });
  // Only now that the change is committed may the processes drop their cached tokens.
  // In chunks: a NOTIFY payload holds at most 8000 bytes.
  for (let i = 0; i < done.revoked.length; i += 100) await announceRevocation(db, done.revoked.slice(i, i + 100));
  return done.view;
}
