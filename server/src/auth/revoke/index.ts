import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { verifyAccessToken } from '../access-token.ts';
import type { RemoteJwks } from '../client-keys.ts';
import { fhirBaseUrl, issuerUrl, tokenEndpointUrl } from '../endpoints.ts';
import { InvalidRequest } from '../errors.ts';
import { findRefreshToken, revokeGrant, revokeTokenId } from '../grants.ts';
import type { SigningKeys } from '../keys.ts';
import { authenticateClient } from '../token/authenticate-client.ts';
import { type TokenParameters } from '../token/read-parameters.ts';

/**
 * Token revocation (RFC 7009). The client authenticates as at the token endpoint (public
 * clients by client_id, §2.1). Revoking a refresh token revokes its whole grant ("SHOULD also
 * invalidate all access tokens based on the same authorization grant", §2.1); revoking an access
 * token revokes its grant too (a person token) or just itself (a system token). Tokens that are
 * unknown, invalid or another client's answer 200 and change nothing (§2.2: "invalid tokens do
 * not cause an error response").
 */
export interface RevokeContext {
  db: Database;
  config: Config;
  keys: SigningKeys;
  remoteJwks: RemoteJwks;
  now: () => number;
}

export async function revoke(ctx: RevokeContext, params: TokenParameters, authorization: string | undefined, ip?: string): Promise<void> {
  const { client } = await authenticateClient(
    { db: ctx.db, remoteJwks: ctx.remoteJwks, tokenEndpoint: tokenEndpointUrl(ctx.config), now: ctx.now },
    params,
    authorization
  );
  const token = params.get('token');
  if (!token) throw new InvalidRequest('Missing required parameter "token"');
  // token_type_hint only orders the lookups (§2.1); both kinds are tried.
  const hint = params.get('token_type_hint');
  const tryRefresh = async () => {
    if (token.length > 200) return false;
    const found = await findRefreshToken(ctx.db, token);
    if (!found || found.grant.client_id !== client.id) return false;
    await revokeGrant(ctx.db, found.grant.tenant, found.grant.id);
    return true;
  };
  const tryAccess = async () => {
    const claims = await verifyAccessToken(ctx.keys, issuerUrl(ctx.config), fhirBaseUrl(ctx.config), token);
    if (!claims || claims.clientId !== client.id || claims.tenant !== client.tenant) return false;
    if (claims.grantId) await revokeGrant(ctx.db, claims.tenant, claims.grantId);
    else if (claims.jti) await revokeTokenId(ctx.db, claims.tenant, claims.jti);
    return true;
  };
  const done = hint === 'access_token' ? (await tryAccess()) || (await tryRefresh()) : (await tryRefresh()) || (await tryAccess());
  if (done) await auditAuthEvent(ctx.db, { tenant: client.tenant, action: 'token-revoked', outcome: 'success', clientId: client.id, ip });
}
