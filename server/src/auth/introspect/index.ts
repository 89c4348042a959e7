import type { Database } from '../../db/database.ts';
import type { Config } from '../../config.ts';
import type { AccessPolicy } from '../../access/policy.ts';
import { verifyAccessToken } from '../access-token.ts';
import type { RemoteJwks } from '../client-keys.ts';
import { fhirBaseUrl, issuerUrl, tokenEndpointUrl } from '../endpoints.ts';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import { findRefreshToken, isRevoked } from '../grants.ts';
import { absoluteFhirUser } from '../id-token.ts';
import type { SigningKeys } from '../keys.ts';
import { authenticateClient } from '../token/authenticate-client.ts';
import { type TokenParameters } from '../token/read-parameters.ts';

/**
 * Token introspection (RFC 7662) as SMART profiles it:
 * https://hl7.org/fhir/smart-app-launch/token-introspection.html
 * The caller is a resource server or app that authenticates as a confidential client
 * (client_secret_basic or private_key_jwt) or presents a bearer token with a system/ scope
 * (RFC 7662 §2.1: "protected ... by ... a separate OAuth 2.0 access token").
 * A token that is expired, revoked, malformed, of another tenant or unknown answers
 * `{ "active": false }` and nothing else (§2.2: "SHOULD NOT include other information").
 */
export interface IntrospectContext {
  db: Database;
  config: Config;
  keys: SigningKeys;
  remoteJwks: RemoteJwks;
  now: () => number;
  /** Verifies a bearer token (auth/index.ts `authenticate`). */
  bearer: (header: string) => Promise<AccessPolicy>;
}

export async function introspect(ctx: IntrospectContext, params: TokenParameters, authorization: string | undefined): Promise<Record<string, unknown>> {
  const tenant = await authenticateCaller(ctx, params, authorization);
  const token = params.get('token');
  if (!token) throw new InvalidRequest('Missing required parameter "token"');
  const inactive = { active: false };

  const claims = await verifyAccessToken(ctx.keys, issuerUrl(ctx.config), fhirBaseUrl(ctx.config), token);
  if (claims) {
    if (claims.tenant !== tenant) return inactive;
    if (await isRevoked(ctx.db, claims.grantId, claims.jti)) return inactive;
    return compact({
      active: true,
      scope: claims.scope,
      client_id: claims.clientId,
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      iss: issuerUrl(ctx.config),
      aud: fhirBaseUrl(ctx.config),
      token_type: 'Bearer',
      fhirUser: absoluteFhirUser(claims.fhirUser, fhirBaseUrl(ctx.config)),
      patient: claims.patient,
      encounter: claims.encounter,
      // The token's purpose of use (v3-ActReason) and, for backend clients, the recipient.
      purpose_of_use: claims.purposeOfUse,
      organization: claims.organization,
    });
  }
  if (token.length > 20 && token.length < 200) {
    const found = await findRefreshToken(ctx.db, token);
    if (found && found.grant.tenant === tenant && !found.refresh.used && !found.refresh.expired && !found.grant.revoked_at) {
      return compact({
        active: true,
        scope: found.refresh.scope,
        client_id: found.grant.client_id,
        sub: found.grant.user_id,
        iss: issuerUrl(ctx.config),
        token_type: 'refresh_token',
        fhirUser: absoluteFhirUser(found.grant.context.fhirUser, fhirBaseUrl(ctx.config)),
        patient: found.grant.context.patient,
        encounter: found.grant.context.encounter,
      });
    }
  }
  return inactive;
}

/** Returns the caller's tenant: introspection never reveals another tenant's tokens. */
async function authenticateCaller(ctx: IntrospectContext, params: TokenParameters, authorization: string | undefined): Promise<string> {
  if (/^Bearer /i.test(authorization ?? '')) {
    let policy: AccessPolicy;
    try {
      policy = await ctx.bearer(authorization as string);
    } catch {
      throw new InvalidClient('The bearer token is not valid');
    }
    if (!policy.scope.split(' ').some((s) => s.startsWith('system/'))) throw new InvalidClient('The bearer token needs a system/ scope to introspect');
    return policy.tenant;
  }
  const { client } = await authenticateClient(
    { db: ctx.db, remoteJwks: ctx.remoteJwks, tokenEndpoint: tokenEndpointUrl(ctx.config), now: ctx.now },
    params,
    authorization,
    { allowPublic: false }
  );
  return client.tenant;
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
