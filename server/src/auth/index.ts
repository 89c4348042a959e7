import express from 'express';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { type AccessPolicy, policyFor } from '../access/policy.ts';
import type { Role } from '../access/context.ts';
import { fail } from '../fhir/outcome.ts';
import { verifyAccessToken } from './access-token.ts';
import { RemoteJwks } from './client-keys.ts';
import { smartConfiguration } from './discovery.ts';
import { fhirBaseUrl, issuerUrl } from './endpoints.ts';
import { OAuthError, errorBody } from './errors.ts';
import type { SigningKeys } from './keys.ts';
import { handleTokenRequest } from './token/index.ts';
import { log } from '../log.ts';

/**
 * The SMART authorization server: discovery, the server's public keys, and the token endpoint
 * for Backend Services; plus `authenticate`, which turns a bearer token into an AccessPolicy
 * for the FHIR routes. See ./README.md.
 */
export interface AuthDeps {
  db: Database;
  config: Config;
  keys: SigningKeys;
  /** Clock in milliseconds since the epoch; injected by tests. Defaults to Date.now. */
  now?: () => number;
}

export { registerBackendClient, listClients, findClient } from './clients.ts';
export { createTenant, listTenants, getTenant } from '../tenant/tenants.ts';

/** Largest token request body we read; a real one is a few kilobytes. */
const MAX_TOKEN_BODY = '64kb';

export function authRouter(deps: AuthDeps): express.Router {
  const now = deps.now ?? Date.now;
  const remoteJwks = new RemoteJwks(now);
  const router = express.Router();

  // SMART Conformance: FHIR endpoints "SHALL serve a JSON document at the location formed by
  // appending /.well-known/smart-configuration to their base URL"; served at the root as well.
  // Read by browser apps from other origins, hence CORS.
  const discovery: express.RequestHandler = (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Cache-Control', 'public, max-age=300');
    res.json(smartConfiguration(deps.config));
  };
  router.get('/.well-known/smart-configuration', discovery);
  router.get('/fhir/R4/.well-known/smart-configuration', discovery);

  // The public half of every key that signs live tokens (RFC 7517 JWK Set), each with its kid.
  router.get('/auth/jwks', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Cache-Control', 'public, max-age=300');
    res.json({ keys: [...deps.keys.publicKeys.values()].map((k) => k.jwk) });
  });

  const readForm = express.text({ type: 'application/x-www-form-urlencoded', limit: MAX_TOKEN_BODY });
  router.post('/auth/token', (req, res) => {
    // RFC 6749 §5.1: responses carrying tokens (or refusing them) "MUST" not be cached.
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    const send = (status: number, body: unknown) => res.status(status).json(body);
    readForm(req, res, (parseError?: unknown) => {
      if (parseError) {
        send(400, { error: 'invalid_request', error_description: 'The request body could not be read as a form' });
        return;
      }
      const isForm = Boolean(req.is('application/x-www-form-urlencoded'));
      handleTokenRequest({ db: deps.db, config: deps.config, keys: deps.keys, remoteJwks, now }, req.body, isForm).then(
        (token) => send(200, token),
        (err: unknown) => {
          if (err instanceof OAuthError) {
            send(err.status, errorBody(err));
            return;
          }
          // Unexpected (database down, bug): say nothing about the cause; log no token or assertion.
          log.error('token endpoint failed', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
          send(500, { error: 'server_error', error_description: 'The authorization server could not process the request' });
        }
      );
    });
  });

  return router;
}

/**
 * RFC 6750 §2.1 bearer token → the access policy of the tenant, client and scopes it was issued
 * for. Anything else (no header, another scheme, bad signature, expired, wrong audience, unknown
 * key) fails as 'unauthorized'; the HTTP layer adds WWW-Authenticate (RFC 6750 §3).
 */
export async function authenticate(deps: AuthDeps, authorizationHeader: string | undefined): Promise<AccessPolicy> {
  // The auth scheme is case-insensitive (RFC 9110 §11.1); the token is RFC 6750 b64token.
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorizationHeader ?? '');
  if (m) {
    const now = (deps.now ?? Date.now)();
    const hit = verified.get(m[1]);
    if (hit && hit.expiresAt > now) return hit.policy;
    const claims = await verifyAccessToken(deps.keys, issuerUrl(deps.config), fhirBaseUrl(deps.config), m[1]);
    if (claims) {
      const policy = await policyFor({
        tenant: claims.tenant,
        clientId: claims.clientId,
        scope: claims.scope,
        userId: claims.userId,
        fhirUser: claims.fhirUser,
        roles: claims.roles as Role[] | undefined,
        patient: claims.patient,
        encounter: claims.encounter,
        purposeOfUse: claims.purposeOfUse,
        tokenId: claims.jti,
        grantId: claims.grantId,
      });
      remember(m[1], policy, Math.min((claims.exp ?? 0) * 1000, now + 60_000), now);
      return policy;
    }
  }
  fail('unauthorized', 'A valid bearer token is required');
}

/**
 * Tokens already verified, until they expire (at most a minute): a signature check costs more
 * than the rest of a typical read, and a client sends the same token for every request.
 * Only tokens that passed full verification are kept; the map is bounded.
 */
const verified = new Map<string, { policy: AccessPolicy; expiresAt: number }>();
const MAX_VERIFIED = 10_000;

function remember(token: string, policy: AccessPolicy, expiresAt: number, now: number): void {
  if (verified.size >= MAX_VERIFIED) {
    for (const [k, v] of verified) if (v.expiresAt <= now) verified.delete(k);
    if (verified.size >= MAX_VERIFIED) verified.clear();
  }
  verified.set(token, { policy, expiresAt });
}
