import { decodeJwt } from 'jose';
import type { Queryable } from '../../db/database.ts';
import { type OAuthClient, findClient } from '../clients.ts';
import { clientSecretHash, verifySecret } from '../clients/smart-app.ts';
import type { RemoteJwks } from '../client-keys.ts';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import { checkReplay } from './check-replay.ts';
import { type TokenParameters } from './read-parameters.ts';
import { JWT_BEARER } from './read-client-assertion.ts';
import { verifyClientAssertion } from './verify-client-assertion.ts';

/**
 * Client authentication for SMART apps at the token, revocation and introspection endpoints,
 * by the method the client registered (one method per client, RFC 7591 token_endpoint_auth_method):
 * - 'none' (SMART client-public): `client_id` in the body identifies it; PKCE does the rest.
 * - 'client_secret_basic' (client-confidential-symmetric; RFC 6749 §2.3.1): HTTP Basic with the
 *   client id and secret each form-urlencoded first. A secret in the body (client_secret_post) is
 *   refused: we do not advertise that method.
 * - 'private_key_jwt' (client-confidential-asymmetric; RFC 7523 §2.2): a signed assertion, with
 *   replay protection, exactly as for backend services.
 * Every failure is invalid_client (RFC 6749 §5.2); 401 with a Basic challenge when Basic was tried.
 */
export class InvalidBasicClient extends InvalidClient {
  /** RFC 6749 §5.2: "include the WWW-Authenticate response header field" when Basic was used. */
  readonly challenge = 'Basic realm="token"';
}

export interface ClientAuthContext {
  db: Queryable;
  remoteJwks: RemoteJwks;
  tokenEndpoint: string;
  now: () => number;
}

export interface ClientAuthentication {
  client: OAuthClient;
  method: OAuthClient['authMethod'];
}

export async function authenticateClient(
  ctx: ClientAuthContext,
  params: TokenParameters,
  authorization: string | undefined,
  opts: { allowPublic: boolean } = { allowPublic: true }
): Promise<ClientAuthentication> {
  const basic = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(authorization ?? '');
  const hasAssertion = params.has('client_assertion') || params.has('client_assertion_type');
  // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
  if ([Boolean(basic), hasAssertion, params.has('client_secret')].filter(Boolean).length > 1) {
    throw new InvalidRequest('Use exactly one client authentication method');
  }
  if (params.has('client_secret')) {
    throw new InvalidClient('client_secret in the request body is not supported; send it with HTTP Basic (client_secret_basic)');
  }

  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new InvalidBasicClient('Malformed HTTP Basic credentials');
    let id: string;
    let secret: string;
    try {
      // §2.3.1: id and secret are "encoded using the application/x-www-form-urlencoded encoding algorithm".
      id = decodeForm(decoded.slice(0, colon));
      secret = decodeForm(decoded.slice(colon + 1));
    } catch {
      throw new InvalidBasicClient('Malformed HTTP Basic credentials');
    }
    const bodyId = params.get('client_id');
    if (bodyId !== undefined && bodyId !== id) throw new InvalidBasicClient('client_id does not match the HTTP Basic credentials');
    const client = await findClient(ctx.db, id);
    // Hash even for an unknown client, so timing does not tell which ids exist.
    const ok = await verifySecret(secret, client ? await clientSecretHash(ctx.db, id) : DUMMY_HASH);
    if (!client || client.authMethod !== 'client_secret_basic' || !ok) throw new InvalidBasicClient('Client authentication failed');
    return usable({ client, method: 'client_secret_basic' });
  }

  if (hasAssertion) {
    const type = params.get('client_assertion_type');
    const jwt = params.get('client_assertion');
    if (!type || !jwt) throw new InvalidRequest('client_assertion_type and client_assertion go together');
    if (type !== JWT_BEARER) throw new InvalidRequest(`client_assertion_type must be ${JWT_BEARER}`);
    const authenticated = await verifyClientAssertion(ctx, { jwt, clientId: params.get('client_id') || undefined }, { kind: 'smart-app' });
    if (authenticated.client.authMethod !== 'private_key_jwt') throw new InvalidClient('This client does not authenticate with private_key_jwt');
    await checkReplay(ctx.db, authenticated, ctx.now());
    return usable({ client: authenticated.client, method: 'private_key_jwt' });
  }

  const id = params.get('client_id');
  if (!id) throw new InvalidClient('Client authentication is required (client_id for public clients)');
  const client = await findClient(ctx.db, id);
  if (!client) throw new InvalidClient('Unknown client');
  // A confidential client must prove who it is (RFC 6749 §3.2.1); client_id alone is not enough.
  if (client.authMethod !== 'none') throw new InvalidClient(`This client must authenticate with ${client.authMethod}`);
  if (!opts.allowPublic) throw new InvalidClient('Only confidential clients may call this endpoint');
  return usable({ client, method: 'none' });
}

function usable(a: ClientAuthentication): ClientAuthentication {
  if (a.client.disabled) throw new InvalidClient('Unknown or disabled client');
  // RFC 7591 registrations wait for a tenant admin's approval before they can be used.
  if (a.client.status !== 'approved') throw new InvalidClient('This client has not been approved by a tenant administrator yet');
  if (a.client.kind !== 'smart-app') throw new InvalidClient('This client is not registered as a SMART app');
  return a;
}

function decodeForm(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** The client id a request claims (not yet authenticated): client_id, the Basic user, or the assertion's iss. */
export function claimedClientId(params: ReadonlyMap<string, string>, authorization: string | undefined): string | undefined {
  const id = params.get('client_id');
  if (id) return id.slice(0, 128);
  const basic = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(authorization ?? '');
  if (basic) return Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0].slice(0, 128);
  const assertion = params.get('client_assertion');
  if (assertion) {
    try {
      const iss = (decodeJwt(assertion) as { iss?: unknown }).iss;
      return typeof iss === 'string' ? iss.slice(0, 128) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
