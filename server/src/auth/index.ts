import express from 'express';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { WriteHook } from '../store/hooks.ts';
import type { Database } from '../db/database.ts';
import { type AccessPolicy, policyFor } from '../access/policy.ts';
import type { Role } from '../access/context.ts';
import { fail } from '../kernel/outcome.ts';
import { type AccessTokenClaims, verifyAccessToken } from './access-token.ts';
import { findClient } from './clients.ts';
import { RemoteJwks } from './client-keys.ts';
import { openidConfiguration, smartConfiguration } from './discovery.ts';
import { fhirBaseUrl, issuerUrl } from './endpoints.ts';
import { OAuthError, TemporarilyUnavailable, errorBody } from './errors.ts';
import { isRevoked } from './grants.ts';
import { introspect } from './introspect/index.ts';
import { type SigningKeys, publishedJwks } from './keys.ts';
import { RateLimit } from './rate-limit.ts';
import { approveByAdmin, registerClient } from './register/index.ts';
import { listenForRevocations, onRevocation } from './revocation-channel.ts';
import { consentChangeId, isExternal, onConsentChange } from '../access/disclosure.ts';
import { revoke } from './revoke/index.ts';
import { InvalidBasicClient, claimedClientId } from './token/authenticate-client.ts';
import { handleTokenRequest } from './token/index.ts';
import { readParameters } from './token/read-parameters.ts';
import { bodyLimit } from '../ingress/body-guard.ts';
import { log } from '../log.ts';
import { browserRouter } from './pages/router.ts';
import { accountAdminApi } from './users/admin-api.ts';

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
  /** The server's clock (../clock.ts): offline grants' absolute lifetime and break-glass windows; tests move it forward. Defaults to the system's. */
  clock?: Clock;
  /** The server's write hooks (app.ts), for the FHIR resources auth writes itself (break-glass notices). */
  hooks?: readonly WriteHook[];
}

export { registerBackendClient, listClients, findClient } from './clients.ts';
export { registerSmartApp, approveClient } from './clients/smart-app.ts';
export { createTenant, listTenants, getTenant } from '../tenant/tenants.ts';

/** Largest token request body we read; a real one is a few kilobytes. */
const MAX_TOKEN_BODY = 64 * 1024;
const MINUTE = 60_000;

export function authRouter(deps: AuthDeps): express.Router {
  const now = deps.now ?? Date.now;
  const remoteJwks = new RemoteJwks({ allowedHosts: deps.config.jwksAllowedHosts, now });
  const router = express.Router();
  startRevocationListener(deps);

  // Rate limits, shared by all processes through the database (rate-limit.ts): per client IP
  // (req.ip: TRUST_PROXY decides whose address that is) on every back-channel endpoint, per
  // claimed client id on the same endpoints, per IP on registration.
  const perIp = new RateLimit(deps.db, 'back-channel-ip', deps.config.tokenRateLimitPerIp, MINUTE, now);
  const perClient = new RateLimit(deps.db, 'back-channel-client', deps.config.tokenRateLimitPerClient, MINUTE, now);
  const registrations = new RateLimit(deps.db, 'registration-ip', deps.config.registrationRateLimitPerIp, 60 * MINUTE, now);
  const limit = async (rl: RateLimit, key: string) => {
    const wait = await rl.hit(key);
    if (wait > 0) {
      const e = new TemporarilyUnavailable('Too many requests; try again later');
      (e as { retryAfter?: number }).retryAfter = wait;
      throw e;
    }
  };

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
  // OpenID Connect Discovery 1.0 §4: at the issuer + /.well-known/openid-configuration.
  const oidcDiscovery: express.RequestHandler = (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Cache-Control', 'public, max-age=300');
    res.json(openidConfiguration(deps.config));
  };
  router.get('/.well-known/openid-configuration', oidcDiscovery);
  router.get('/fhir/R4/.well-known/openid-configuration', oidcDiscovery);

  // The public half of every key that signs live tokens (RFC 7517 JWK Set), each with its kid:
  // the ES256 access-token keys and the RS256 id_token keys. Read from the database, so a
  // rotation made by any process is published at once.
  router.get('/auth/jwks', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Cache-Control', 'public, max-age=300');
    publishedJwks(deps.db).then(
      (jwks) => res.json(jwks),
      () => res.status(503).json({ error: 'temporarily_unavailable' })
    );
  });

  // The back channel: token, introspection, revocation. All take form bodies and answer JSON that
  // is never cached (RFC 6749 §5.1). Their CORS (registered app origins only, no credentials) is
  // server/src/http/cors.ts, mounted before this router; registration below allows any origin.
  const readForm = bodyLimit(MAX_TOKEN_BODY, express.text({ type: 'application/x-www-form-urlencoded', limit: MAX_TOKEN_BODY }));
  const cors: express.RequestHandler = (req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Access-Control-Expose-Headers', 'WWW-Authenticate, Retry-After');
    if (req.method === 'OPTIONS') {
      res.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept');
      res.set('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
  const formEndpoint = (
    name: string,
    handle: (req: express.Request, params: ReturnType<typeof readParameters>) => Promise<unknown>
  ): express.RequestHandler[] => [
    (req, res) => {
      res.set('Cache-Control', 'no-store');
      res.set('Pragma', 'no-cache');
      const sendError = (err: unknown) => {
        if (err instanceof OAuthError) {
          if (err instanceof InvalidBasicClient) res.set('WWW-Authenticate', err.challenge);
          const retry = (err as { retryAfter?: number }).retryAfter;
          if (retry) res.set('Retry-After', String(retry));
          res.status(err.status).json(errorBody(err));
          return;
        }
        // Unexpected (database down, bug): say nothing about the cause; log no token or assertion.
        log.error(`${name} endpoint failed`, { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
        res.status(500).json({ error: 'server_error', error_description: 'The authorization server could not process the request' });
      };
      limit(perIp, `${name} ${req.ip}`).then(() => {
        readForm(req, res, (parseError?: unknown) => {
          if (parseError) {
            res.status(400).json({ error: 'invalid_request', error_description: 'The request body could not be read as a form' });
            return;
          }
          const isForm = Boolean(req.is('application/x-www-form-urlencoded'));
          Promise.resolve()
            .then(async () => {
              const params = readParameters(req.body, isForm);
              // Counted against the client the request claims to be, before authenticating it, so
              // guessing one client's secret from many addresses is slowed down too.
              const claimed = claimedClientId(params, req.get('authorization'));
              if (claimed) await limit(perClient, `${name} ${claimed}`);
              return handle(req, params);
            })
            .then((body) => res.status(200).json(body ?? {}), sendError);
        });
      }, sendError);
    },
  ];

  router.post(
    '/auth/token',
    ...formEndpoint('token', (req) => {
      const isForm = Boolean(req.is('application/x-www-form-urlencoded'));
      return handleTokenRequest({ db: deps.db, config: deps.config, keys: deps.keys, remoteJwks, now, clock: deps.clock ?? systemClock }, req.body, isForm, {
        authorization: req.get('authorization'),
        ip: req.ip,
      });
    })
  );
  // RFC 7662 token introspection.
  router.post(
    '/auth/introspect',
    ...formEndpoint('introspect', (req, params) =>
      introspect({ ...deps, remoteJwks, now, bearer: (h) => authenticate(deps, h) }, params, req.get('authorization'))
    )
  );
  // RFC 7009 token revocation: 200 with an empty body.
  router.post(
    '/auth/revoke',
    ...formEndpoint('revoke', async (req, params) => {
      await revoke({ ...deps, remoteJwks, now }, params, req.get('authorization'), req.ip);
      return {};
    })
  );

  // RFC 7591 dynamic client registration (see register/index.ts for tenant choice and approval).
  const readJson = bodyLimit(MAX_TOKEN_BODY, express.json({ limit: MAX_TOKEN_BODY, type: ['application/json', 'application/*+json'] }));
  router.options('/auth/register', cors);
  router.post('/auth/register', cors, (req, res) => {
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    registrations.hit(`${req.ip}`).then(
      (wait) => {
        if (wait > 0) {
          res.set('Retry-After', String(wait));
          res.status(429).json({ error: 'temporarily_unavailable', error_description: 'Too many registrations; try again later' });
        } else register(req, res);
      },
      () => res.status(500).json({ error: 'server_error', error_description: 'The authorization server could not process the request' })
    );
  });
  const register = (req: express.Request, res: express.Response): void => {
    readJson(req, res, (parseError?: unknown) => {
      if (parseError || !req.is('application/json')) {
        res.status(400).json({ error: 'invalid_client_metadata', error_description: 'The request body must be JSON client metadata (application/json)' });
        return;
      }
      registerClient({ db: deps.db, config: deps.config, now }, req.body, req.ip).then(
        (r) => res.status(r.status).json(r.body),
        (err: unknown) => {
          log.error('registration failed', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
          res.status(500).json({ error: 'server_error', error_description: 'The authorization server could not process the request' });
        }
      );
    });
  };
  // A tenant admin approves a pending registration.
  router.post('/auth/clients/:id/approve', (req, res) => {
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    authenticate(deps, req.get('authorization'))
      .then(
        (policy) => approveByAdmin(deps.db, policy, req.params.id),
        () => ({ status: 401, body: { error: 'invalid_token', error_description: 'A valid bearer token is required' } })
      )
      .then(
        (r) => {
          if (r.status === 401) res.set('WWW-Authenticate', 'Bearer error="invalid_token"');
          res.status(r.status).json(r.body);
        },
        () => res.status(500).json({ error: 'server_error', error_description: 'The authorization server could not process the request' })
      );
  });

  // A tenant admin disables, enables or re-roles an account (users/admin-api.ts).
  router.use(accountAdminApi(deps));

  // The people side (login, second factor, /authorize, consent, picker, EHR launcher): ./pages/router.ts.
  router.use(browserRouter(deps));

  return router;
}

/**
 * RFC 6750 §2.1 bearer token → the access policy of the tenant, client and scopes it was issued
 * for. Anything else (no header, another scheme, bad signature, expired, wrong audience, unknown
 * key, revoked) fails as 'unauthorized'; the HTTP layer adds WWW-Authenticate (RFC 6750 §3).
 */
export async function authenticate(deps: AuthDeps, authorizationHeader: string | undefined): Promise<AccessPolicy> {
  // The auth scheme is case-insensitive (RFC 9110 §11.1); the token is RFC 6750 b64token.
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorizationHeader ?? '');
  if (m) {
    const now = (deps.now ?? Date.now)();
    const clockNow = (deps.clock ?? systemClock).now();
    const hit = verified.get(m[1]);
    // A policy built inside a break-glass window holds only until the window ends.
    if (hit && hit.expiresAt > now && !(hit.policy.until !== undefined && hit.policy.until <= clockNow.getTime())) return hit.policy;
    const claims = await verifyAccessToken(deps.keys, issuerUrl(deps.config), fhirBaseUrl(deps.config), m[1]);
    // Person tokens carry a grant id: one primary-key lookup tells whether it was revoked
    // (RFC 7009). System tokens (5 minutes, no grant) are not looked up.
    if (claims && !(claims.grantId && (await isRevoked(deps.db, claims.grantId, claims.jti)))) {
      await checkMachinePurpose(deps.db, claims);
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
        organization: claims.organization,
        tokenId: claims.jti,
        grantId: claims.grantId,
      }, deps.db, clockNow);
      // The user id too: starting break-glass drops the user's cached policies (auth/break-glass).
      // An external recipient's too: a Consent written or revoked drops its policy (access/disclosure.ts).
      const consents = isExternal(policy.context) ? consentChangeId(policy.tenant) : undefined;
      remember(m[1], policy, Math.min((claims.exp ?? 0) * 1000, now + 60_000), now, [claims.grantId, claims.jti, claims.userId, consents]);
      return policy;
    }
  }
  fail('unauthorized', 'A valid bearer token is required');
}

/**
 * A backend client's token carrying a purpose of use (or a recipient organization) holds only
 * while the client's registration still allows that purpose for that organization: a changed
 * registration refuses the tokens issued before it (403, the token is valid but not for this).
 * One primary-key lookup per verification; a verified token is cached up to a minute, so a change
 * reaches a token already in use within that minute.
 */
async function checkMachinePurpose(db: Database, claims: AccessTokenClaims): Promise<void> {
  if (claims.userId || claims.fhirUser || (!claims.purposeOfUse && !claims.organization)) return;
  const client = await findClient(db, claims.clientId);
  const purposeAllowed = !claims.purposeOfUse || Boolean(client?.purposes.includes(claims.purposeOfUse));
  if (!client || client.tenant !== claims.tenant || client.organization !== claims.organization || !purposeAllowed) {
    fail('forbidden', `This client is no longer registered for purpose of use "${claims.purposeOfUse ?? 'none'}" on behalf of ${claims.organization ?? 'no organization'}; request a new token`);
  }
}

/**
 * Tokens already verified, until they expire (at most a minute): a signature check costs more
 * than the rest of a typical read, and a client sends the same token for every request.
 * Only tokens that passed full verification are kept; the map is bounded. A revocation (in this
 * process or, by NOTIFY, in another) drops the entries of the revoked grant or token id at once.
 */
const verified = new Map<string, { policy: AccessPolicy; expiresAt: number; ids: (string | undefined)[] }>();
const MAX_VERIFIED = 10_000;

function remember(token: string, policy: AccessPolicy, expiresAt: number, now: number, ids: (string | undefined)[]): void {
  if (verified.size >= MAX_VERIFIED) {
    for (const [k, v] of verified) if (v.expiresAt <= now) verified.delete(k);
    if (verified.size >= MAX_VERIFIED) verified.clear();
  }
  verified.set(token, { policy, expiresAt, ids });
}

function forgetVerified(ids: string[]): void {
  const revoked = new Set(ids);
  for (const [k, v] of verified) if (v.ids.some((id) => id !== undefined && revoked.has(id))) verified.delete(k);
}
onRevocation(forgetVerified);
onConsentChange(forgetVerified);

/** One LISTEN connection per process, for revocations announced by the other processes. */
let listening: string | undefined;
function startRevocationListener(deps: AuthDeps): void {
  const url = deps.config.databaseUrl;
  if (!url || deps.db.kind !== 'postgres' || listening === url) return;
  listening = url;
  listenForRevocations(url);
}
