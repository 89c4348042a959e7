import type { Clock } from '../../clock.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { RemoteJwks } from '../client-keys.ts';
import { tokenEndpointUrl } from '../endpoints.ts';
import type { SigningKeys } from '../keys.ts';
import { authenticateClient } from './authenticate-client.ts';
import { checkGrantType } from './check-grant-type.ts';
import { checkReplay } from './check-replay.ts';
import { exchangeCode } from './exchange-code.ts';
import { grantScopes, readRequestedScope } from './grant-scopes.ts';
import type { PersonTokenResponse } from './issue-person-token.ts';
import { type TokenResponse, issueToken } from './issue-token.ts';
import { readClientAssertion } from './read-client-assertion.ts';
import { readParameters } from './read-parameters.ts';
import { refreshTokens } from './refresh.ts';
import { verifyClientAssertion } from './verify-client-assertion.ts';

/**
 * The token endpoint (RFC 6749 §3.2) as lists of small named steps, one file each, per grant type:
 * - client_credentials (SMART Backend Services): read-parameters → check-grant-type →
 *   read-client-assertion → grant-scopes (presence) → verify-client-assertion → check-replay →
 *   grant-scopes → issue-token.
 * - authorization_code (SMART App Launch): read-parameters → check-grant-type →
 *   authenticate-client → exchange-code (code lookup, single use, redirect_uri, check-pkce,
 *   grant) → issue-person-token (access, id and refresh tokens).
 * - refresh_token: read-parameters → check-grant-type → authenticate-client → refresh
 *   (rotation, reuse detection, narrowing) → issue-person-token.
 * Each step takes what the previous ones established, so the compiler checks the order.
 * Any step may throw an OAuthError (../errors.ts); the HTTP layer writes it as RFC 6749 §5.2.
 * https://hl7.org/fhir/smart-app-launch/backend-services.html#obtain-access-token
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token
 */
export interface TokenContext {
  db: Database;
  config: Config;
  keys: SigningKeys;
  remoteJwks: RemoteJwks;
  now: () => number;
  /** The server's clock (../../clock.ts), for lifetimes counted in days (offline grants). */
  clock: Clock;
}

export interface TokenRequestMeta {
  /** The Authorization request header (HTTP Basic client authentication). */
  authorization?: string;
  ip?: string;
}

export async function handleTokenRequest(
  ctx: TokenContext,
  body: unknown,
  isForm: boolean,
  meta: TokenRequestMeta = {}
): Promise<TokenResponse | PersonTokenResponse> {
  const params = readParameters(body, isForm);
  const grantType = checkGrantType(params);

  const tokenEndpoint = tokenEndpointUrl(ctx.config);
  if (grantType === 'client_credentials') {
    const assertion = readClientAssertion(params);
    const requested = readRequestedScope(params);
    const authenticated = await verifyClientAssertion({ db: ctx.db, remoteJwks: ctx.remoteJwks, tokenEndpoint, now: ctx.now }, assertion);
    await checkReplay(ctx.db, authenticated, ctx.now());
    const scope = grantScopes(authenticated.client, requested);
    return issueToken(ctx, authenticated.client, scope);
  }
  const { client } = await authenticateClient({ db: ctx.db, remoteJwks: ctx.remoteJwks, tokenEndpoint, now: ctx.now }, params, meta.authorization);
  const issue = { db: ctx.db, config: ctx.config, keys: ctx.keys, now: ctx.now, clock: ctx.clock, ip: meta.ip };
  return grantType === 'authorization_code' ? exchangeCode(issue, client, params) : refreshTokens(issue, client, params);
}

