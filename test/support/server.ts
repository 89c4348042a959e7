import { exportJWK, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Role } from '../../server/src/access/context.ts';
import { type Server, configureHttpServer, createServer } from '../../server/src/app.ts';
import { OffsetClock } from '../../server/src/clock.ts';
import { issueAccessToken } from '../../server/src/auth/access-token.ts';
import { fhirBaseUrl, issuerUrl } from '../../server/src/auth/endpoints.ts';
import { loadSigningKeys } from '../../server/src/auth/keys.ts';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { loadConfig } from '../../server/src/config.ts';
import type { Database } from '../../server/src/db/database.ts';
import { createTenant, getTenant } from '../../server/src/tenant/tenants.ts';
import { freshDatabase } from './database.ts';

/**
 * A real server on a real port over a fresh database, plus a way to get bearer tokens the way a
 * backend-service client does: register a client with its own key, sign a client assertion, and
 * exchange it at the token endpoint.
 */
export interface TestServer {
  baseUrl: string;
  fhirBase: string;
  db: Database;
  /** The server itself: its background loops (`server.loops.risk.runOnce()`), config. */
  server: Server;
  /** The clock durable timers use: `clock.advance(ms)` then `server.loops.x.runOnce()`, no sleeping. */
  clock: OffsetClock;
  /** A token for a backend client of `tenant` (created on first use) holding `scope`. */
  token(scope?: string, tenant?: string): Promise<string>;
  /**
   * An access token for a person (SMART App Launch claims), signed directly with the server's
   * key: for tests of the access decision point, which should not depend on the login flow.
   * The login and token flows themselves are tested through /authorize and /auth/token.
   */
  personToken(claims: PersonClaims): Promise<string>;
  /** Creates the tenant if this server has not yet. */
  ensureTenant(tenant: string): Promise<void>;
  /** fetch against the FHIR base with a bearer token and FHIR JSON headers. */
  fhir(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

export interface PersonClaims {
  tenant?: string;
  scope: string;
  fhirUser?: string;
  roles?: Role[];
  patient?: string;
  encounter?: string;
  purposeOfUse?: string;
  userId?: string;
  clientId?: string;
  ttlSeconds?: number;
}

/**
 * `env` adds server settings (as environment variables would). Background loops run on their own
 * intervals unless a test sets RISK_POLL_MS / SUBSCRIPTION_POLL_MS to 0 and drives them itself.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const { db, drop } = await freshDatabase();
  const httpServer = http.createServer();
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;
  const config = {
    ...loadConfig({ SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1,localhost', JWKS_ALLOWED_HOSTS: '127.0.0.1,localhost', ...env, PORT: String(port), BASE_URL: `http://127.0.0.1:${port}` }),
    seedDemo: false,
  };
  const clock = new OffsetClock();
  const server = await createServer(config, db, { clock });
  configureHttpServer(httpServer, config);
  httpServer.on('request', server.app);
  httpServer.on('upgrade', server.upgrade);
  const baseUrl = config.baseUrl;
  const fhirBase = `${baseUrl}/fhir/R4`;

  const tenants = new Set<string>();
  const clients = new Map<string, { clientId: string; key: CryptoKey; kid: string }>();
  const tokens = new Map<string, string>();

  async function ensureTenant(tenant: string): Promise<void> {
    if (!tenants.has(tenant)) {
      // A tenant seeded before the first token (the demo clinic of the apps harness) is reused.
      if (!(await getTenant(db, tenant))) await createTenant(db, { id: tenant, name: `Test ${tenant}` });
      tenants.add(tenant);
    }
  }

  async function personToken(c: PersonClaims): Promise<string> {
    const tenant = c.tenant ?? 'test';
    await ensureTenant(tenant);
    const keys = await loadSigningKeys(db);
    return issueAccessToken(
      keys,
      issuerUrl(config),
      fhirBaseUrl(config),
      {
        tenant,
        clientId: c.clientId ?? 'test-app',
        scope: c.scope,
        sub: c.userId ?? c.fhirUser ?? 'test-user',
        userId: c.userId,
        fhirUser: c.fhirUser,
        roles: c.roles,
        patient: c.patient,
        encounter: c.encounter,
        purposeOfUse: c.purposeOfUse,
      },
      c.ttlSeconds ?? 300
    );
  }

  async function client(tenant: string) {
    await ensureTenant(tenant);
    let c = clients.get(tenant);
    if (!c) {
      const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
      const kid = randomUUID();
      const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES384' };
      const { clientId } = await registerBackendClient(db, { tenant, name: `test-${tenant}`, jwks: { keys: [jwk] }, scope: 'system/*.cruds system/*.*' });
      c = { clientId, key: privateKey, kid };
      clients.set(tenant, c);
    }
    return c;
  }

  async function token(scope = 'system/*.cruds', tenant = 'test'): Promise<string> {
    const cacheKey = `${tenant} ${scope}`;
    const cached = tokens.get(cacheKey);
    if (cached) return cached;
    const c = await client(tenant);
    const res = await requestToken({ baseUrl, clientId: c.clientId, key: { key: c.key, kid: c.kid, alg: 'ES384' }, scope });
    const token = res.body.access_token;
    if (res.status !== 200 || typeof token !== 'string') throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
    tokens.set(cacheKey, token);
    return token;
  }

  async function fhir(path: string, init: RequestInit & { token?: string; json?: unknown } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${init.token ?? (await token())}`);
    if (!headers.has('accept')) headers.set('accept', 'application/fhir+json');
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/fhir+json');
    }
    const url = path.startsWith('http') ? path : `${fhirBase}/${path.replace(/^\//, '')}`;
    return fetch(url, { ...init, headers, body });
  }

  return {
    baseUrl,
    fhirBase,
    db,
    server,
    clock,
    token,
    personToken,
    ensureTenant,
    fhir,
    async close() {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await server.close();
      await drop();
    },
  };
}
