import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { Database, Queryable } from '../../db/database.ts';
import type { OAuthClient } from '../clients.ts';
import { InvalidGrant, InvalidScope } from '../errors.ts';
import { type GrantRow, findGrant, findRefreshToken, revokeGrant, useRefreshToken } from '../grants.ts';
import { findUserById } from '../users/index.ts';
import { sessionIsActive } from './check-person.ts';
import { type IssueContext, type PersonTokenResponse, issuePersonTokens, offlineGrantSecondsLeft } from './issue-person-token.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * The refresh_token grant (RFC 6749 §6, SMART App Launch "Refresh access token").
 * Tokens rotate on every use (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): the presented one
 * becomes used and a new one of the same family is returned. A used one presented again means
 * it leaked, so the whole family (grant) is revoked, access tokens included.
 * "scope ... MUST NOT include any scope not originally granted" (§6): narrowing only.
 *
 * Every check comes before the token is marked used: a refused request (expired, disabled user,
 * a wider scope ...) changes nothing, so the client's next valid refresh still works and is not
 * mistaken for reuse. The user's roles and status are read now, not taken from the grant: a role
 * change or a disabled account shows in the next refresh. An offline grant ends, however often
 * rotated, `OFFLINE_GRANT_MAX_SECONDS` after the sign-in it came from.
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#step-6-app-uses-a-refresh-token-to-obtain-a-new-access-token
 */
export async function refreshTokens(
  ctx: IssueContext & { db: Database; ip?: string },
  client: OAuthClient,
  params: TokenParameters
): Promise<PersonTokenResponse> {
  const token = required(params, 'refresh_token');
  const found = await findRefreshToken(ctx.db, token);
  if (!found || found.grant.client_id !== client.id) throw new InvalidGrant('The refresh token is invalid');
  const { refresh, grant } = found;

  if (refresh.used) await refuseReuse(ctx, client, grant);
  const scope = await checkRefresh(ctx, ctx.db, grant, refresh.expired, refresh.scope, params.get('scope'));

  // Marked used and the new tokens issued in one transaction: of two concurrent refreshes with
  // one token exactly one wins, and the other is reuse. A role change committed meanwhile moved
  // the token to a successor grant (grants.ts supersedeGrantsOfUser): issue from that one, with
  // the user read inside the transaction.
  const outcome = await ctx.db.transaction(async (tx) => {
    const grantId = await useRefreshToken(tx, refresh.token_hash);
    if (!grantId) return { reused: true as const };
    const current = grantId === grant.id ? grant : await findGrant(tx, grantId);
    if (!current) throw new InvalidGrant('The refresh token is invalid');
    const user = await findUserById(tx, current.user_id);
    if (current.revoked_at || !user || user.disabled) return { refused: new InvalidGrant('The refresh token has been revoked') };
    // issuePersonTokens reads the roles from the account, in this transaction.
    return { res: await issuePersonTokens({ ...ctx, db: tx }, current, scope, { idToken: false }) };
  });
  if ('reused' in outcome) await refuseReuse(ctx, client, grant);
  if ('refused' in outcome) throw outcome.refused;
  await auditAuthEvent(ctx.db, {
    tenant: grant.tenant,
    action: 'token-refreshed',
    outcome: 'success',
    userId: grant.user_id,
    fhirUser: grant.context.fhirUser,
    clientId: client.id,
    ip: ctx.ip,
    detail: scope,
  });
  return outcome.res!;
}

/** A used refresh token presented again: it leaked, so its family is revoked (once). Always throws. */
async function refuseReuse(ctx: { db: Database; ip?: string }, client: OAuthClient, grant: GrantRow): Promise<never> {
  const current = await findGrant(ctx.db, grant.id);
  if (current && !current.revoked_at) {
    await revokeGrant(ctx.db, grant.tenant, grant.id);
    await auditAuthEvent(ctx.db, { tenant: grant.tenant, action: 'token-revoked', outcome: 'success', userId: grant.user_id, clientId: client.id, ip: ctx.ip });
    throw new InvalidGrant('The refresh token has already been used');
  }
  throw new InvalidGrant('The refresh token has been revoked');
}

/** Everything that may refuse a refresh, before anything changes; returns the scope to issue. */
async function checkRefresh(
  ctx: IssueContext,
  q: Queryable,
  grant: GrantRow,
  expired: boolean,
  held: string,
  asked: string | undefined
): Promise<string> {
  if (grant.revoked_at) throw new InvalidGrant('The refresh token has been revoked');
  if (expired) throw new InvalidGrant('The refresh token has expired');
  if (grant.access_type === 'offline' && offlineGrantSecondsLeft(ctx, grant) <= 0) {
    throw new InvalidGrant('The offline grant has reached its absolute lifetime; the user must sign in again');
  }
  const user = await findUserById(q, grant.user_id);
  if (!user || user.disabled) throw new InvalidGrant('The user account is disabled');
  if (grant.access_type === 'online' && !(await sessionIsActive(q, grant.session_id))) {
    throw new InvalidGrant('The session this online_access grant belongs to has ended');
  }
  if (asked === undefined || asked.trim() === '') return held;
  const heldScopes = held.split(' ');
  const wanted = [...new Set(asked.split(/\s+/).filter(Boolean))];
  const extra = wanted.filter((s) => !heldScopes.includes(s));
  if (extra.length) throw new InvalidScope(`A refresh may narrow the scope but not widen it: ${extra.join(' ').slice(0, 200)} was not granted`);
  return wanted.join(' ');
}
