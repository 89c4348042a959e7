import { type JWTPayload, decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify } from 'jose';
import type { Queryable } from '../../db/database.ts';
import { BACKEND_SERVICE, type OAuthClient, findClient } from '../clients.ts';
import { type RemoteJwks, resolveClientKey } from '../client-keys.ts';
import { InvalidClient } from '../errors.ts';
import type { ClientAssertion } from './read-client-assertion.ts';

/**
 * Step 4: authenticate the client by its signed JWT, per RFC 7523 §3 and SMART
 * client-confidential-asymmetric "Signature Verification":
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html#signature-verification
 * Every failure is invalid_client: "If an error is encountered during the authentication process,
 * the server SHALL respond with an invalid_client error".
 */

/** The algorithms we verify. SMART: clients SHALL support RS384 and ES384; `none`, HMAC and all else are refused. */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
/** "exp ... SHALL be no more than five minutes in the future." */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Tolerated clock difference between client and server, seconds. */
export const CLOCK_SKEW_S = 30;
const MAX_JTI_LENGTH = 256;

export interface VerifyContext {
  db: Queryable;
  remoteJwks: RemoteJwks;
  tokenEndpoint: string;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export interface AuthenticatedClient {
  client: OAuthClient;
  jti: string;
  /** Assertion expiry, seconds since the epoch. */
  exp: number;
}

export async function verifyClientAssertion(
  ctx: VerifyContext,
  assertion: ClientAssertion,
  /** Which kind of client may authenticate here: backend services at client_credentials, SMART apps elsewhere. */
  opts: { kind: string } = { kind: BACKEND_SERVICE }
): Promise<AuthenticatedClient> {
  const { jwt } = assertion;
  if (jwt.split('.').length !== 3) throw new InvalidClient('client_assertion must be a signed JWT (JWS compact serialization)');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(jwt);
    unverified = decodeJwt(jwt);
  } catch {
    throw new InvalidClient('client_assertion is not a well-formed JWT');
  }

  const alg = header.alg;
  if (typeof alg !== 'string' || !(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new InvalidClient(`client_assertion must be signed with ${ASSERTION_ALGORITHMS.join(' or ')}`);
  }
  // SMART: typ "Fixed value: JWT". Tolerate its absence (many libraries omit it) but refuse any
  // other type, so an access token (at+jwt) or other JWT can never pose as a client assertion.
  if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw new InvalidClient('client_assertion typ must be "JWT"');
  // SMART: kid is required, "The identifier of the key-pair used to sign this JWT".
  if (typeof header.kid !== 'string' || header.kid === '') throw new InvalidClient('client_assertion header must carry a kid');
  if (header.jku !== undefined && typeof header.jku !== 'string') throw new InvalidClient('client_assertion jku must be a string');

  // iss and sub are both the client_id (SMART; RFC 7523 §3 items 1-2 for client authentication).
  const iss = unverified.iss;
  if (typeof iss !== 'string' || iss === '') throw new InvalidClient('client_assertion must carry iss (the client_id)');
  if (unverified.sub !== iss) throw new InvalidClient('client_assertion iss and sub must both be the client_id');
  if (assertion.clientId !== undefined && assertion.clientId !== iss) {
    throw new InvalidClient('client_id does not match the client_assertion iss');
  }
  // "ensure that the client_id provided is known and matches the JWT's iss claim".
  const client = await findClient(ctx.db, iss);
  if (!client || client.disabled) throw new InvalidClient('Unknown or disabled client');
  if (client.kind !== opts.kind) {
    throw new InvalidClient(
      opts.kind === BACKEND_SERVICE ? 'This client is not registered for the client_credentials grant' : 'This client is not registered as a SMART app'
    );
  }

  // Before any key is looked up: a registration nobody approved yet must not make this server
  // fetch its JWK Set URL (anyone may register one, so that would be an anonymous SSRF).
  if (client.status !== 'approved') throw new InvalidClient('This client has not been approved by a tenant administrator yet');

  const jwk = await resolveClientKey(client, { kid: header.kid, alg, jku: header.jku }, ctx.remoteJwks);
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK({ ...jwk, ext: true }, alg);
  } catch {
    throw new InvalidClient(`The registered key for this kid cannot verify ${alg}`);
  }

  const now = Math.floor(ctx.now() / 1000);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: [alg],
      issuer: client.id,
      subject: client.id,
      // RFC 7523 §3 item 3; SMART: aud is "The FHIR authorization server's token URL".
      audience: ctx.tokenEndpoint,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      clockTolerance: CLOCK_SKEW_S,
      currentDate: new Date(now * 1000),
    }));
  } catch (err) {
    throw new InvalidClient(describe(err, ctx.tokenEndpoint));
  }

  const exp = payload.exp as number;
  if (exp > now + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) {
    throw new InvalidClient('client_assertion exp must be no more than five minutes in the future');
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    throw new InvalidClient(`client_assertion jti must be a non-empty string of at most ${MAX_JTI_LENGTH} characters`);
  }
  return { client, jti, exp };
}

/** A description that tells the client developer what to fix, without echoing the token. */
function describe(err: unknown, tokenEndpoint: string): string {
  if (err instanceof errors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client_assertion signature verification failed';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return `client_assertion aud must be the token endpoint URL ${tokenEndpoint}`;
      case 'nbf':
        return 'client_assertion is not yet valid (nbf)';
      case 'iat':
        return 'client_assertion iat is invalid';
      default:
        return err.reason === 'missing' ? `client_assertion must carry ${err.claim}` : `client_assertion ${err.claim} is invalid`;
    }
  }
  if (err instanceof errors.JWTInvalid) return 'client_assertion claims are malformed';
  return 'client_assertion could not be verified';
}
