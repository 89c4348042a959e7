import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { RemoteJwks } from '../client-keys.ts';
import { tokenEndpointUrl } from '../endpoints.ts';
import type { SigningKeys } from '../keys.ts';
import { checkGrantType } from './check-grant-type.ts';
import { checkReplay } from './check-replay.ts';
import { grantScopes, readRequestedScope } from './grant-scopes.ts';
import { type TokenResponse, issueToken } from './issue-token.ts';
import { readClientAssertion } from './read-client-assertion.ts';
import { readParameters } from './read-parameters.ts';
import { verifyClientAssertion } from './verify-client-assertion.ts';

/**
 * The token endpoint (RFC 6749 §3.2) for SMART Backend Services, as a list of small named steps,
 * one file each. Each step takes what the previous ones established, so the compiler checks
 * the order: a scope is never granted to a client that was not authenticated and replay-checked.
 * Any step may throw an OAuthError (./errors.ts); the HTTP layer writes it as RFC 6749 §5.2.
 * https://hl7.org/fhir/smart-app-launch/backend-services.html#obtain-access-token
 */
export interface TokenContext {
  db: Database;
  config: Config;
  keys: SigningKeys;
  remoteJwks: RemoteJwks;
  now: () => number;
}

export async function handleTokenRequest(ctx: TokenContext, body: unknown, isForm: boolean): Promise<TokenResponse> {
  const params = readParameters(body, isForm);
  checkGrantType(params);
  const assertion = readClientAssertion(params);
  const requested = readRequestedScope(params);
  const authenticated = await verifyClientAssertion(
    { db: ctx.db, remoteJwks: ctx.remoteJwks, tokenEndpoint: tokenEndpointUrl(ctx.config), now: ctx.now },
    assertion
  );
  await checkReplay(ctx.db, authenticated, ctx.now());
  const scope = grantScopes(authenticated.client, requested);
  return issueToken(ctx, authenticated.client, scope);
}
