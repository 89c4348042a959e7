import type { Queryable } from '../db/database.ts';
import type { AccessContext, Role } from './context.ts';

/**
 * A stored principal (a Subscription's, kept for as long as the Subscription lives) judged with
 * the person's account as it is now: the roles of the account (table app_user, managed by
 * auth/users), none when it is disabled. A role change or an offboarding then narrows or stops
 * what the principal is sent, instead of the roles frozen at the time it was stored. A principal
 * with no account behind it (a system client) is returned as it is.
 */
export async function currentPrincipal(db: Queryable, principal: AccessContext): Promise<AccessContext> {
  if (!principal.userId) return principal;
  const r = await db.query<{ roles: string[]; disabled: boolean }>('SELECT roles, disabled FROM app_user WHERE tenant = $1 AND id = $2', [
    principal.tenant,
    principal.userId,
  ]);
  const account = r.rows[0];
  if (!account) return principal;
  return { ...principal, roles: account.disabled ? [] : (account.roles as Role[]) };
}
