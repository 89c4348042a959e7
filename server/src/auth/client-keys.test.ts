import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { OAuthClient } from './clients.ts';
import { RemoteJwks, resolveClientKey, ttlOf } from './client-keys.ts';

const base: OAuthClient = {
  tenant: 't',
  id: 'c',
  name: 'c',
  kind: 'backend-service',
  jwks: undefined,
  jwksUri: undefined,
  scope: 'system/*.rs',
  disabled: false,
  authMethod: 'private_key_jwt',
  redirectUris: [],
  status: 'approved',
  launchUri: undefined,
  organization: undefined,
  purposes: [],
  createdAt: '',
};

describe('JWK Set cache lifetime from Cache-Control', () => {
  test.each([
    [null, 60_000],
    ['max-age=10', 10_000],
    ['public, max-age=100000', 300_000],
    ['no-store', 0],
    ['max-age=60, no-cache', 0],
    ['max-age=0', 0],
    ['private', 60_000],
  ])('%s → %i ms', (header, ms) => {
    expect(ttlOf(header)).toBe(ms);
  });
});

describe('SMART key resolution', () => {
  const rsa = { kty: 'RSA', kid: 'a', n: 'x', e: 'AQAB' };
  const ec = { kty: 'EC', kid: 'a', crv: 'P-384', x: 'x', y: 'y' };
  const remote = new RemoteJwks();

  test('kid and kty pick one key', async () => {
    const client = { ...base, jwks: { keys: [rsa, ec] } };
    expect(await resolveClientKey(client, { kid: 'a', alg: 'RS384' }, remote)).toBe(rsa);
    expect(await resolveClientKey(client, { kid: 'a', alg: 'ES384' }, remote)).toBe(ec);
  });

  test('two keys with the same kid and kty fail', async () => {
    const client = { ...base, jwks: { keys: [rsa, { ...rsa }] } };
    await expect(resolveClientKey(client, { kid: 'a', alg: 'RS384' }, remote)).rejects.toMatchObject({ error: 'invalid_client' });
  });

  test('a key marked for encryption or another alg is not a candidate', async () => {
    for (const k of [{ ...rsa, use: 'enc' }, { ...rsa, alg: 'RS256' }, { ...rsa, key_ops: ['encrypt'] }]) {
      await expect(resolveClientKey({ ...base, jwks: { keys: [k] } }, { kid: 'a', alg: 'RS384' }, remote)).rejects.toMatchObject({ error: 'invalid_client' });
    }
  });

  test('any jku fails for an inline JWK Set', async () => {
    const client = { ...base, jwks: { keys: [rsa] } };
    await expect(resolveClientKey(client, { kid: 'a', alg: 'RS384', jku: 'https://x/jwks' }, remote)).rejects.toThrow(/jku/);
  });
});

describe('RemoteJwks', () => {
  let server: http.Server;
  let base: string;
  let fetches: Record<string, number> = {};
  let clock = 1_000_000;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? '';
      fetches[path] = (fetches[path] ?? 0) + 1;
      const keys = JSON.stringify({ keys: [{ kty: 'EC', kid: `k${fetches[path]}`, crv: 'P-384', x: 'x', y: 'y' }] });
      if (path === '/default') res.writeHead(200, { 'content-type': 'application/json' }).end(keys);
      else if (path === '/short') res.writeHead(200, { 'cache-control': 'max-age=10' }).end(keys);
      else if (path === '/redirect') res.writeHead(302, { location: '/default' }).end();
      else if (path === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      else if (path === '/slow') setTimeout(() => res.writeHead(200).end(keys), 50);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    fetches = {};
  });

  test('reuses a set for 60 s by default; a refresh is honoured only after 5 s', async () => {
    const remote = new RemoteJwks({ allowedHosts: ['127.0.0.1'], now: () => clock });
    const kid = async (o?: { refresh: boolean }) => (await remote.keys(`${base}/default`, o))[0].kid;
    expect(await kid()).toBe('k1');
    clock += 1_000;
    expect(await kid()).toBe('k1');
    expect(await kid({ refresh: true })).toBe('k1'); // too soon to refetch
    clock += 5_000;
    expect(await kid({ refresh: true })).toBe('k2');
    clock += 59_000;
    expect(await kid()).toBe('k2');
    clock += 2_000;
    expect(await kid()).toBe('k3'); // expired
  });

  test('max-age shortens the reuse', async () => {
    const remote = new RemoteJwks({ allowedHosts: ['127.0.0.1'], now: () => clock });
    expect((await remote.keys(`${base}/short`))[0].kid).toBe('k1');
    clock += 11_000;
    expect((await remote.keys(`${base}/short`))[0].kid).toBe('k2');
  });

  test('concurrent lookups share one fetch', async () => {
    const remote = new RemoteJwks({ allowedHosts: ['127.0.0.1'], now: () => clock });
    await Promise.all([remote.keys(`${base}/slow`), remote.keys(`${base}/slow`), remote.keys(`${base}/slow`)]);
    expect(fetches['/slow']).toBe(1);
  });

  test.each(['/redirect', '/html', '/missing'])('%s → invalid_client', async (path) => {
    await expect(new RemoteJwks({ allowedHosts: ['127.0.0.1'] }).keys(`${base}${path}`)).rejects.toMatchObject({ error: 'invalid_client' });
  });
});
