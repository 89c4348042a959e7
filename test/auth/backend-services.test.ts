import { type JWK, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// SMART App Launch 2.2 Backend Services against the real server: discovery, the token endpoint
// driven by a third-party OAuth client (openid-client), and the exact wire errors of RFC 6749 §5.2
// for every way a client assertion can be wrong.
// https://hl7.org/fhir/smart-app-launch/backend-services.html

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TENANT = 'bs-clinic';

interface TestClient {
  clientId: string;
  key: CryptoKey;
  kid: string;
  alg: 'RS384' | 'ES384';
}

let s: TestServer;
let tokenUrl: string;
let rsClient: TestClient;
let esClient: TestClient;
/** Pre-authorized for Observation reads only. */
let obsClient: TestClient;
let patientId: string;
let observationId: string;

async function keyPair(alg: 'RS384' | 'ES384' | 'RS256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { privateKey, kid, jwk: { ...(await exportJWK(publicKey)), kid } as JWK };
}

async function inlineClient(alg: 'RS384' | 'ES384', scope: string, opts: { withAlgMember?: boolean } = {}): Promise<TestClient> {
  const k = await keyPair(alg);
  const jwk = opts.withAlgMember ? { ...k.jwk, alg } : k.jwk;
  const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: `inline ${alg}`, jwks: { keys: [jwk] }, scope });
  return { clientId, key: k.privateKey, kid: k.kid, alg };
}

interface AssertionOptions {
  alg?: string;
  kid?: string | null;
  jku?: string;
  typ?: string | null;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  /** Seconds from now; null leaves exp out. */
  expIn?: number | null;
  /** null leaves jti out. */
  jti?: string | null;
  key?: CryptoKey | Uint8Array;
}

async function assertion(c: TestClient, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: o.iss ?? c.clientId,
    sub: o.sub ?? c.clientId,
    aud: o.aud ?? tokenUrl,
  };
  if (o.expIn !== null) payload.exp = now + (o.expIn ?? 240);
  if (o.jti !== null) payload.jti = o.jti ?? randomUUID();
  const header: Record<string, unknown> = { alg: o.alg ?? c.alg };
  if (o.kid !== null) header.kid = o.kid ?? c.kid;
  if (o.typ !== null) header.typ = o.typ ?? 'JWT';
  if (o.jku !== undefined) header.jku = o.jku;
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(o.key ?? c.key);
}

function form(params: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.append(k, v);
  return p.toString();
}

async function postToken(body: string, contentType = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(tokenUrl, { method: 'POST', headers: { 'content-type': contentType }, body });
}

async function requestToken(jwt: string, scope = 'system/*.rs', extra: Record<string, string> = {}): Promise<Response> {
  return postToken(form({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: jwt, scope, ...extra }));
}

async function tokenFor(c: TestClient, scope: string): Promise<string> {
  const res = await requestToken(await assertion(c), scope);
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function expectError(res: Response, status: number, error: string, description?: RegExp): Promise<void> {
  const body = (await res.json()) as { error: string; error_description: string };
  expect({ status: res.status, error: body.error }).toEqual({ status, error });
  expect(typeof body.error_description).toBe('string');
  if (description) expect(body.error_description).toMatch(description);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
  // No stack traces or internals on the wire.
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.ts:\d+|Error:/);
}

beforeAll(async () => {
  s = await startTestServer();
  tokenUrl = `${s.baseUrl}/auth/token`;
  await createTenant(s.db, { id: TENANT, name: 'Backend services clinic' });
  rsClient = await inlineClient('RS384', 'system/*.cruds');
  esClient = await inlineClient('ES384', 'system/*.cruds', { withAlgMember: true });
  obsClient = await inlineClient('ES384', 'system/Observation.rs');
  const admin = await tokenFor(esClient, 'system/*.cruds');
  const patient = await s.fhir('Patient', { method: 'POST', token: admin, json: { resourceType: 'Patient', name: [{ family: 'Backend' }] } });
  patientId = ((await patient.json()) as { id: string }).id;
  const obs = await s.fhir('Observation', {
    method: 'POST',
    token: admin,
    json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patientId}` } },
  });
  observationId = ((await obs.json()) as { id: string }).id;
});
afterAll(async () => {
  await s?.close();
});

describe('discovery', () => {
  test.each(['/.well-known/smart-configuration', '/fhir/R4/.well-known/smart-configuration'])('GET %s', async (path) => {
    const res = await fetch(`${s.baseUrl}${path}`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    // SMART: "servers SHALL respond with application/json" regardless of Accept.
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: s.baseUrl,
      token_endpoint: `${s.baseUrl}/auth/token`,
      jwks_uri: `${s.baseUrl}/auth/jwks`,
      token_endpoint_auth_methods_supported: expect.arrayContaining(['private_key_jwt']),
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: expect.arrayContaining(['client_credentials']),
    });
    expect(doc.capabilities).toEqual(expect.arrayContaining(['client-confidential-asymmetric', 'permission-v1', 'permission-v2']));
    expect(doc.scopes_supported).toContain('system/*.rs');
  });

  test('GET /auth/jwks publishes public keys only, each with kid', async () => {
    const res = await fetch(`${s.baseUrl}/auth/jwks`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: JWK[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(typeof k.kid).toBe('string');
      expect(k).not.toHaveProperty('d');
    }
  });
});

describe('token endpoint with openid-client (client_credentials + private_key_jwt)', () => {
  async function oidcConfig(c: TestClient): Promise<oidc.Configuration> {
    // SMART discovery is its own document, not RFC 8414's path: read it, then hand it to the library.
    const meta = (await (await fetch(`${s.fhirBase}/.well-known/smart-configuration`)).json()) as oidc.ServerMetadata;
    const auth = oidc.PrivateKeyJwt(
      { key: c.key, kid: c.kid },
      {
        // SMART requires aud = the token endpoint URL (the library defaults to the issuer) and typ JWT.
        [oidc.modifyAssertion]: (header, payload) => {
          header.typ = 'JWT';
          payload.aud = meta.token_endpoint;
        },
      }
    );
    const config = new oidc.Configuration(meta, c.clientId, {}, auth);
    oidc.allowInsecureRequests(config); // the test server speaks plain http on 127.0.0.1
    return config;
  }

  test.each(['RS384', 'ES384'] as const)('%s key: token issued and accepted by the FHIR API', async (alg) => {
    const c = alg === 'RS384' ? rsClient : esClient;
    const tokens = await oidc.clientCredentialsGrant(await oidcConfig(c), { scope: 'system/Patient.rs system/Observation.read' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('system/Patient.rs system/Observation.read');
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
    expect(tokens).not.toHaveProperty('refresh_token');

    // The access token is a JWT the server's published keys verify, for the FHIR base.
    const jwks = createLocalJWKSet((await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: JWK[] });
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: s.baseUrl, audience: s.fhirBase });
    expect(payload).toMatchObject({ tenant: TENANT, client_id: c.clientId, scope: 'system/Patient.rs system/Observation.read' });

    expect((await s.fhir(`Patient/${patientId}`, { token: tokens.access_token })).status).toBe(200);
    // Granted read/search only: a create is forbidden.
    const create = await s.fhir('Patient', { method: 'POST', token: tokens.access_token, json: { resourceType: 'Patient' } });
    expect(create.status).toBe(403);
  });

  test('the response forbids caching', async () => {
    const res = await requestToken(await assertion(esClient));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
  });

  test('openid-client surfaces our invalid_client as an OAuth error', async () => {
    const config = await oidcConfig({ ...esClient, clientId: 'no-such-client' });
    await expect(oidc.clientCredentialsGrant(config, { scope: 'system/*.rs' })).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

describe('request parameters', () => {
  test.each(['grant_type', 'client_assertion_type', 'client_assertion', 'scope'])('missing %s → 400 invalid_request', async (name) => {
    const params: Record<string, string | undefined> = {
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
      client_assertion: await assertion(esClient),
      scope: 'system/*.rs',
    };
    delete params[name];
    await expectError(await postToken(form(params)), 400, 'invalid_request', new RegExp(name));
  });

  test('a repeated parameter → 400 invalid_request', async () => {
    const body = `${form({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion(esClient), scope: 'system/*.rs' })}&scope=system%2F*.cruds`;
    await expectError(await postToken(body), 400, 'invalid_request', /repeated/);
  });

  test('a JSON body → 400 invalid_request', async () => {
    const body = JSON.stringify({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion(esClient), scope: 'system/*.rs' });
    await expectError(await postToken(body, 'application/json'), 400, 'invalid_request', /x-www-form-urlencoded/);
  });

  test('another client_assertion_type → 400 invalid_request', async () => {
    const res = await postToken(form({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: await assertion(esClient), scope: 'system/*.rs' }));
    await expectError(res, 400, 'invalid_request', /client_assertion_type/);
  });

  test.each(['password', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer'])('grant_type=%s → 400 unsupported_grant_type', async (grantType) => {
    const res = await postToken(form({ grant_type: grantType, client_assertion_type: JWT_BEARER, client_assertion: await assertion(esClient), scope: 'system/*.rs', code: 'x' }));
    await expectError(res, 400, 'unsupported_grant_type');
  });

  test('unsupported grant type wins over missing client authentication', async () => {
    await expectError(await postToken(form({ grant_type: 'password', code: 'abc' })), 400, 'unsupported_grant_type');
  });
});

describe('client assertion: every failure is 401 invalid_client', () => {
  test('alg none (unsigned)', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const jwt = `${b64({ alg: 'none', typ: 'JWT', kid: esClient.kid })}.${b64({ iss: esClient.clientId, sub: esClient.clientId, aud: tokenUrl, exp: now + 120, jti: randomUUID() })}.`;
    await expectError(await requestToken(jwt), 401, 'invalid_client', /RS384 or ES384/);
  });

  test('HS256 (a shared secret, e.g. the public key used as an HMAC key)', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(esClient.kid).repeat(4));
    await expectError(await requestToken(await assertion(esClient, { alg: 'HS256', key: secret })), 401, 'invalid_client', /RS384 or ES384/);
  });

  test('RS256 with a registered RSA key', async () => {
    const k = await keyPair('RS256');
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'rs256', jwks: { keys: [k.jwk] }, scope: 'system/*.rs' });
    const c: TestClient = { clientId, key: k.privateKey, kid: k.kid, alg: 'RS384' };
    await expectError(await requestToken(await assertion(c, { alg: 'RS256' })), 401, 'invalid_client', /RS384 or ES384/);
  });

  test('signature by another key under the registered kid', async () => {
    const other = await keyPair('ES384');
    await expectError(await requestToken(await assertion(esClient, { key: other.privateKey })), 401, 'invalid_client', /signature/);
  });

  test('unknown kid', async () => {
    await expectError(await requestToken(await assertion(esClient, { kid: 'not-registered' })), 401, 'invalid_client', /kid/);
  });

  test('no kid', async () => {
    await expectError(await requestToken(await assertion(esClient, { kid: null })), 401, 'invalid_client', /kid/);
  });

  test('typ other than JWT (e.g. an access token shape)', async () => {
    await expectError(await requestToken(await assertion(esClient, { typ: 'at+jwt' })), 401, 'invalid_client', /typ/);
  });

  test('kty that does not suit alg (RSA kid signed as ES384)', async () => {
    const jwt = await assertion(rsClient, { alg: 'ES384', key: esClient.key });
    await expectError(await requestToken(jwt), 401, 'invalid_client');
  });

  test.each([
    ['the FHIR base', () => s.fhirBase],
    ['the issuer', () => s.baseUrl],
    ['the token URL with a trailing slash', () => `${tokenUrl}/`],
  ])('aud = %s', async (_name, aud) => {
    await expectError(await requestToken(await assertion(esClient, { aud: aud() })), 401, 'invalid_client', /aud/);
  });

  test('iss ≠ sub', async () => {
    await expectError(await requestToken(await assertion(esClient, { sub: rsClient.clientId })), 401, 'invalid_client', /iss and sub/);
  });

  test('unknown client', async () => {
    const jwt = await assertion(esClient, { iss: 'nobody', sub: 'nobody' });
    await expectError(await requestToken(jwt), 401, 'invalid_client', /Unknown/);
  });

  test('client_id parameter naming another client', async () => {
    const res = await requestToken(await assertion(esClient), 'system/*.rs', { client_id: rsClient.clientId });
    await expectError(res, 401, 'invalid_client', /client_id/);
  });

  test('disabled client', async () => {
    const c = await inlineClient('ES384', 'system/*.rs');
    await s.db.query('UPDATE oauth_client SET disabled = true WHERE id = $1', [c.clientId]);
    await expectError(await requestToken(await assertion(c)), 401, 'invalid_client', /disabled/);
  });

  test('expired', async () => {
    await expectError(await requestToken(await assertion(esClient, { expIn: -120 })), 401, 'invalid_client', /expired/);
  });

  test('exp more than five minutes ahead', async () => {
    await expectError(await requestToken(await assertion(esClient, { expIn: 600 })), 401, 'invalid_client', /five minutes/);
  });

  test('no exp', async () => {
    await expectError(await requestToken(await assertion(esClient, { expIn: null })), 401, 'invalid_client', /exp/);
  });

  test('no jti', async () => {
    await expectError(await requestToken(await assertion(esClient, { jti: null })), 401, 'invalid_client', /jti/);
  });

  test('replayed jti', async () => {
    const jwt = await assertion(esClient);
    expect((await requestToken(jwt)).status).toBe(200);
    await expectError(await requestToken(jwt), 401, 'invalid_client', /already been used/);
    // Same jti in a freshly signed assertion is a replay too.
    const jti = randomUUID();
    expect((await requestToken(await assertion(esClient, { jti }))).status).toBe(200);
    await expectError(await requestToken(await assertion(esClient, { jti })), 401, 'invalid_client', /already been used/);
    // ...but only for the same client.
    expect((await requestToken(await assertion(rsClient, { jti }))).status).toBe(200);
  });

  test('concurrent replays: exactly one wins', async () => {
    const jwt = await assertion(esClient);
    const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await requestToken(jwt)).status));
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401]);
  });

  test('jku on a client registered with an inline JWK Set', async () => {
    await expectError(await requestToken(await assertion(esClient, { jku: `${s.baseUrl}/auth/jwks` })), 401, 'invalid_client', /jku/);
  });

  test('garbage instead of a JWT', async () => {
    await expectError(await requestToken('not.a.jwt'), 401, 'invalid_client');
    await expectError(await requestToken('abc'), 401, 'invalid_client');
  });
});

describe('scopes', () => {
  test('a scope outside the pre-authorization → 400 invalid_scope', async () => {
    await expectError(await requestToken(await assertion(obsClient), 'system/Patient.rs'), 400, 'invalid_scope');
  });

  test('write on a read-only pre-authorization → 400 invalid_scope', async () => {
    await expectError(await requestToken(await assertion(obsClient), 'system/Observation.cud'), 400, 'invalid_scope');
  });

  test('non-system scopes are never granted → 400 invalid_scope', async () => {
    await expectError(await requestToken(await assertion(esClient), 'patient/*.rs user/*.rs openid launch'), 400, 'invalid_scope');
  });

  test('the grant is the intersection with the pre-authorization', async () => {
    const res = await requestToken(await assertion(obsClient), 'system/Observation.rs system/Patient.rs');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { scope: string }).scope).toBe('system/Observation.rs');

    const wide = await requestToken(await assertion(obsClient), 'system/*.read');
    expect(((await wide.json()) as { scope: string }).scope).toBe('system/Observation.rs');

    const granular = await requestToken(await assertion(esClient), 'system/Observation.rs?category=survey system/Patient.read');
    expect(((await granular.json()) as { scope: string }).scope).toBe('system/Observation.rs?category=survey system/Patient.read');
  });

  test('a narrowed token is enforced by the FHIR API', async () => {
    const token = await tokenFor(obsClient, 'system/*.rs');
    expect((await s.fhir(`Observation/${observationId}`, { token })).status).toBe(200);
    expect((await s.fhir(`Patient/${patientId}`, { token })).status).toBe(403);
  });
});

describe('client registered with a JWK Set URL', () => {
  let jwksServer: http.Server;
  let jwksUri: string;
  let published: JWK[] = [];
  let fetches = 0;
  let c: TestClient;

  beforeAll(async () => {
    jwksServer = http.createServer((req, res) => {
      fetches++;
      // /client/ serves with max-age=60, /no-store/ with no-store; the same keys.
      const cacheControl = req.url === '/client/jwks.json' ? 'max-age=60' : req.url === '/no-store/jwks.json' ? 'no-store' : undefined;
      if (!cacheControl) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': cacheControl });
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/client/jwks.json`;
    const k = await keyPair('RS384');
    published = [k.jwk];
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'by url', jwksUri, scope: 'system/*.rs' });
    c = { clientId, key: k.privateKey, kid: k.kid, alg: 'RS384' };
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => jwksServer?.close(() => resolve()));
  });

  test('keys are fetched from the registered URL (no jku), then cached', async () => {
    const before = fetches;
    expect((await requestToken(await assertion(c))).status).toBe(200);
    expect((await requestToken(await assertion(c))).status).toBe(200);
    expect(fetches - before).toBeLessThanOrEqual(1);
  });

  test('jku equal to the registered URL is accepted', async () => {
    expect((await requestToken(await assertion(c, { jku: jwksUri }))).status).toBe(200);
  });

  test.each([
    ['another host', () => 'http://evil.example/jwks.json'],
    ['another path on the same host', () => jwksUri.replace('/client/', '/other/')],
    ['a trailing slash', () => `${jwksUri}/`],
    ['a query string', () => `${jwksUri}?x=1`],
  ])('jku with %s → 401 invalid_client', async (_name, jku) => {
    await expectError(await requestToken(await assertion(c, { jku: jku() })), 401, 'invalid_client', /jku/);
  });

  test('a rotated-in key is found by refetching the set', async () => {
    // The set was cached by the tests above; an unknown kid makes the server look again
    // (at most every few seconds, see client-keys.test.ts for the timing).
    const next = await keyPair('ES384');
    published = [...published, next.jwk];
    const rotated: TestClient = { ...c, key: next.privateKey, kid: next.kid, alg: 'ES384' };
    await expect.poll(async () => (await requestToken(await assertion(rotated))).status, { timeout: 8_000, interval: 1_000 }).toBe(200);
  });

  test('Cache-Control: no-store is honoured: a removed key stops working at once', async () => {
    const url = jwksUri.replace('/client/', '/no-store/');
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'no-store', jwksUri: url, scope: 'system/*.rs' });
    const nc = { ...c, clientId };
    const before = fetches;
    expect((await requestToken(await assertion(nc))).status).toBe(200);
    expect((await requestToken(await assertion(nc))).status).toBe(200);
    expect(fetches - before).toBe(2); // fetched each time, never reused
    published = published.filter((k) => k.kid !== c.kid);
    await expectError(await requestToken(await assertion(nc)), 401, 'invalid_client', /kid/);
  });

  test('an unreachable JWK Set URL → 401 invalid_client', async () => {
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'dead url', jwksUri: 'http://127.0.0.1:1/jwks.json', scope: 'system/*.rs' });
    await expectError(await requestToken(await assertion({ ...c, clientId })), 401, 'invalid_client', /JWK Set URL/);
  });
});

describe('the FHIR API requires a valid bearer token', () => {
  async function expect401(headers: Record<string, string>, path = 'Patient'): Promise<void> {
    const res = await fetch(`${s.fhirBase}/${path}`, { headers: { accept: 'application/fhir+json', ...headers } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = (await res.json()) as { resourceType: string };
    expect(body.resourceType).toBe('OperationOutcome');
  }

  test('no Authorization header', async () => {
    await expect401({});
    await expect401({}, 'Observation?code=1234-5');
    await expect401({}, 'Patient/x/_history');
  });

  test('another scheme or a malformed token', async () => {
    await expect401({ authorization: 'Basic dXNlcjpwYXNz' });
    await expect401({ authorization: 'Bearer' });
    await expect401({ authorization: 'Bearer not-a-jwt' });
  });

  test('the client assertion is not an access token', async () => {
    await expect401({ authorization: `Bearer ${await assertion(esClient)}` });
  });

  test('a token signed by a key the server does not know', async () => {
    const k = await keyPair('ES384');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ tenant: TENANT, scope: 'system/*.cruds', client_id: esClient.clientId })
      .setProtectedHeader({ alg: 'ES384', kid: k.kid, typ: 'at+jwt' })
      .setIssuer(s.baseUrl)
      .setAudience(s.fhirBase)
      .setSubject(esClient.clientId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 120)
      .sign(k.privateKey);
    await expect401({ authorization: `Bearer ${forged}` });

    // ...even when it claims the server's own kid.
    const { keys } = (await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: JWK[] };
    const own = await generateKeyPair('ES256');
    const impostor = await new SignJWT({ tenant: TENANT, scope: 'system/*.cruds', client_id: esClient.clientId })
      .setProtectedHeader({ alg: 'ES256', kid: keys[0].kid as string, typ: 'at+jwt' })
      .setIssuer(s.baseUrl)
      .setAudience(s.fhirBase)
      .setSubject(esClient.clientId)
      .setExpirationTime(now + 120)
      .sign(own.privateKey);
    await expect401({ authorization: `Bearer ${impostor}` });
  });

  test('a valid token works (control)', async () => {
    const token = await tokenFor(esClient, 'system/*.rs');
    expect((await fetch(`${s.fhirBase}/Patient/${patientId}`, { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
  });

  test('metadata and the SMART configuration need no token', async () => {
    expect((await fetch(`${s.fhirBase}/metadata`)).status).toBe(200);
    expect((await fetch(`${s.fhirBase}/.well-known/smart-configuration`)).status).toBe(200);
  });
});
