import { type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// A JWK Set URL is chosen by whoever registers a client, and anyone may register at
// /auth/register: the server must not become a way to make requests into its own network
// (issue 10, item 3). A local listener counts every request the server makes to it.

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TENANT = 'ssrf-clinic';

let listener: http.Server;
let listenerBase: string;
let hits = 0;
let key: { privateKey: CryptoKey; kid: string; jwk: JWK };

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  key = { privateKey, kid, jwk: { ...(await exportJWK(publicKey)), kid } };
  listener = http.createServer((req, res) => {
    hits++;
    if (req.url === '/teapot') res.writeHead(418, { 'content-type': 'text/plain' }).end('I am a teapot behind your firewall');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.jwk] }));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerBase = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => listener?.close(() => resolve()));
});

async function assertion(clientId: string, aud: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: key.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(aud)
    .setJti(randomUUID())
    .setExpirationTime('4m')
    .sign(key.privateKey);
}

const post = (url: string, form: Record<string, string>) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

describe('with the listener host allowed (JWKS_ALLOWED_HOSTS=127.0.0.1)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ JWKS_ALLOWED_HOSTS: '127.0.0.1' });
    await s.ensureTenant(TENANT);
  });
  afterAll(async () => {
    await s?.close();
  });

  test('a pending registration with a jwks_uri never makes the server fetch it (token, introspect, revoke)', async () => {
    const reg = await fetch(`${s.baseUrl}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: TENANT, redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${listenerBase}/jwks.json` }),
    });
    expect(reg.status).toBe(201);
    const { client_id: clientId, status } = (await reg.json()) as { client_id: string; status: string };
    expect(status).toBe('pending');
    const tokenUrl = `${s.baseUrl}/auth/token`;
    const before = hits;
    for (const [url, form] of [
      [tokenUrl, { grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://app.example/cb', code_verifier: 'x'.repeat(43) }],
      [`${s.baseUrl}/auth/introspect`, { token: 'x' }],
      [`${s.baseUrl}/auth/revoke`, { token: 'x' }],
    ] as const) {
      const res = await post(url, { ...form, client_assertion_type: JWT_BEARER, client_assertion: await assertion(clientId, tokenUrl) });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    }
    expect(hits).toBe(before);
  });

  test("an error never tells what the client's URL answered", async () => {
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'teapot', jwksUri: `${listenerBase}/teapot`, scope: 'system/*.rs' });
    const tokenUrl = `${s.baseUrl}/auth/token`;
    const before = hits;
    const res = await post(tokenUrl, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: await assertion(clientId, tokenUrl) });
    expect(hits).toBe(before + 1); // the URL was asked: this is the answer we must not echo
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).not.toMatch(/418|teapot|HTTP/i);
    expect(body.error_description).toBe("The client's JWK Set URL could not be used");
  });

  test('an allowed host serving the keys works', async () => {
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'good', jwksUri: `${listenerBase}/jwks.json`, scope: 'system/*.rs' });
    const tokenUrl = `${s.baseUrl}/auth/token`;
    const res = await post(tokenUrl, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: await assertion(clientId, tokenUrl) });
    expect(res.status).toBe(200);
  });
});

describe('with no host allowed (the default)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ JWKS_ALLOWED_HOSTS: '' });
    await s.ensureTenant(TENANT);
  });
  afterAll(async () => {
    await s?.close();
  });

  test.each([
    ['a loopback address', () => `${listenerBase}/jwks.json`],
    ['localhost', () => listenerBase.replace('127.0.0.1', 'localhost') + '/jwks.json'],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
  ])('an approved client whose JWK Set URL is %s is refused without a request', async (_name, url) => {
    const { clientId } = await registerBackendClient(s.db, { tenant: TENANT, name: 'inward', jwksUri: url(), scope: 'system/*.rs' });
    const tokenUrl = `${s.baseUrl}/auth/token`;
    const before = hits;
    const res = await post(tokenUrl, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: await assertion(clientId, tokenUrl) });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error_description: string }).error_description).toBe("The client's JWK Set URL could not be used");
    expect(hits).toBe(before);
  });
});
