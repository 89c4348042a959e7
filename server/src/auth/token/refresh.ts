import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { Database } from '../../db/database.ts';
import type { OAuthClient } from '../clients.ts';
import { InvalidGrant, InvalidScope } from '../errors.ts';
import { findRefreshToken, revokeGrant, useRefreshToken } from '../grants.ts';
import { personMayRefresh } from './check-person.ts';
import { type IssueContext, type PersonTokenResponse, issuePersonTokens } from './issue-person-token.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * The refresh_token grant (RFC 6749 §6, SMART App Launch "Refresh access token").
 * Tokens rotate on every use (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): the presented one
 * becomes used and a new one of the same family is returned. A used one presented again means
 * it leaked, so the whole family (grant) is revoked, access tokens included.
 * "scope ... MUST NOT include any scope not originally granted" (§6): narrowing only.
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

  if (!(await useRefreshToken(ctx.db, refresh.token_hash))) {
    if (!grant.revoked_at) {
      await revokeGrant(ctx.db, grant.tenant, grant.id);
      await auditAuthEvent(ctx.db, { tenant: grant.tenant, action: 'token-revoked', outcome: 'success', userId: grant.user_id, clientId: client.id, ip: ctx.ip });
    }
    throw new InvalidGrant(grant.revoked_at ? 'The refresh token has been revoked' : 'The refresh token has already been used');
  }
  if (grant.revoked_at) throw new InvalidGrant('The refresh token has been revoked');
  if (refresh.expired) throw new InvalidGrant('The refresh token has expired');
  const may = await personMayRefresh(ctx.db, grant);
  if (may === 'user') throw new InvalidGrant('The user account is disabled');
  if (may === 'session') throw new InvalidGrant('The session this online_access grant belongs to has ended');

  const held = refresh.scope.split(' ');
  let scope = refresh.scope;
  const asked = params.get('scope');
  if (asked !== undefined && asked.trim() !== '') {
    const wanted = [...new Set(asked.split(/\s+/).filter(Boolean))];
    const extra = wanted.filter((s) => !held.includes(s));
    if (extra.length) throw new InvalidScope(`A refresh may narrow the scope but not widen it: ${extra.join(' ').slice(0, 200)} was not granted`);
    scope = wanted.join(' ');
  }
  // The new refresh token exists only if the (possibly narrowed) scope still asks for one.
  const res = await issuePersonTokens(ctx, grant, scope, { idToken: false });
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
  return res;
}
