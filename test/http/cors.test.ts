import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerSmartApp, setClientDisabled } from '../../server/src/auth/clients/smart-app.ts';
import { ORIGINS_TTL_MS } from '../../server/src/http/cors.ts';
import { launchChromium } from '../support/chromium.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// CORS for browser SMART apps on another origin (server/src/http/cors.ts): the FHIR API and the
// token, introspection and revocation endpoints answer cross-origin requests only from the
// origins of approved, enabled SMART apps' redirect and launch URLs; discovery stays open to all.
// Raw HTTP for the exact headers, and Debian's chromium for what a browser actually allows.

const TENANT = 'cors';
const APP_ORIGIN = 'https://app.example';
const LAUNCH_ORIGIN = 'https://launch.example:8443';
const UNKNOWN = 'https://evil.example';
let s: TestServer;
let token: string;

beforeAll(async () => {
  s = await startTestServer();
  await s.ensureTenant(TENANT);
  token = await s.token('system/*.cruds', TENANT);
  await registerSmartApp(s.db, {
    tenant: TENANT,
    name: 'Cross-origin app',
    redirectUris: [`${APP_ORIGIN}/callback`],
    launchUri: `${LAUNCH_ORIGIN}/launch.html`,
    authMethod: 'none',
    scope: 'launch/patient openid fhirUser patient/*.rs',
  });
  // Registered by RFC 7591 and not yet approved by a tenant admin: not an app origin yet.
  await registerSmartApp(s.db, {
    tenant: TENANT,
    name: 'Pending app',
    redirectUris: ['https://pending.example/callback'],
    authMethod: 'none',
    scope: 'launch/patient patient/*.rs',
    status: 'pending',
  });
});
afterAll(async () => {
  await s?.close();
});

const fhir = (path: string, origin: string | undefined, init: RequestInit = {}) =>
  fetch(`${s.fhirBase}/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(origin ? { origin } : {}), ...(init.headers as Record<string, string>) },
  });

const preflight = (url: string, origin: string, method: string, headers: string) =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

const varies = (res: Response) => (res.headers.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase());

describe('the FHIR API', () => {
  test('a registered app origin may read the answer and the FHIR headers, without credentials', async () => {
    const created = await fhir('Patient', APP_ORIGIN, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Cors' }] }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(created.headers.get('access-control-allow-credentials')).toBeNull();
    const exposed = (created.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(['location', 'etag', 'content-location', 'last-modified']));
    expect(varies(created)).toContain('origin');

    const read = await fhir('Patient?family=cors', LAUNCH_ORIGIN);
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe(LAUNCH_ORIGIN);
  });

  test('an unknown origin gets no CORS headers; the request is otherwise answered as usual', async () => {
    for (const origin of [UNKNOWN, 'http://app.example', 'https://app.example:444', 'https://sub.app.example', 'https://pending.example', 'null']) {
      const res = await fhir('Patient?family=cors', origin);
      expect(res.status, origin).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.headers.get('access-control-expose-headers'), origin).toBeNull();
      expect(varies(res), origin).toContain('origin');
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('Bundle');
    }
    // Without Origin (curl, a server): nothing changes either.
    const plain = await fhir('Patient?family=cors', undefined);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('a preflight allows the FHIR methods and the headers SMART clients send, for a registered origin only', async () => {
    const ok = await preflight(`${s.fhirBase}/Patient/123`, APP_ORIGIN, 'PUT', 'authorization, content-type, if-match, if-none-exist, prefer, accept');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const methods = (ok.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim());
    expect(methods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
    const headers = (ok.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    expect(headers).toEqual(expect.arrayContaining(['authorization', 'content-type', 'if-match', 'if-none-exist', 'prefer', 'accept']));
    expect(Number(ok.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(varies(ok)).toContain('origin');

    // A preflight carries no token: it is answered before the FHIR API (no 401, nothing audited), with no CORS headers for a stranger.
    const refused = await preflight(`${s.fhirBase}/Patient/123`, UNKNOWN, 'PUT', 'authorization');
    expect(refused.status).toBe(204);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.headers.get('access-control-allow-methods')).toBeNull();
    expect(refused.headers.get('access-control-allow-headers')).toBeNull();
  });

  test('/metadata and the SMART configuration stay open to any origin', async () => {
    for (const path of ['/fhir/R4/metadata', '/fhir/R4/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
      const res = await fetch(`${s.baseUrl}${path}`, { headers: { origin: UNKNOWN } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
      const pre = await preflight(`${s.baseUrl}${path}`, UNKNOWN, 'GET', 'accept');
      expect(pre.status, path).toBe(204);
      expect(pre.headers.get('access-control-allow-origin'), path).toBe('*');
    }
  });
});

describe('the token, introspection and revocation endpoints', () => {
  test.each(['/auth/token', '/auth/introspect', '/auth/revoke'])('%s: registered origin allowed, unknown origin not', async (path) => {
    const url = `${s.baseUrl}${path}`;
    const pre = await preflight(url, APP_ORIGIN, 'POST', 'content-type, authorization');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    const bad = await preflight(url, UNKNOWN, 'POST', 'content-type');
    expect(bad.status).toBe(204);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();

    // The endpoint itself still answers (an OAuth error here: no client), with or without CORS.
    const form = { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', token: 'x' }) };
    const allowed = await fetch(url, { ...form, headers: { origin: APP_ORIGIN } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const stranger = await fetch(url, { ...form, headers: { origin: UNKNOWN } });
    expect(stranger.status).toBe(allowed.status);
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('registrations take effect within the cache time', () => {
  test('a disabled client\'s origin is refused, a newly registered one allowed', async () => {
    const id = (
      await registerSmartApp(s.db, { tenant: TENANT, name: 'Soon disabled', redirectUris: ['https://soon-disabled.example/'], authMethod: 'none', scope: 'launch/patient patient/*.rs' })
    ).clientId;
    s.clock.advance(ORIGINS_TTL_MS + 1);
    expect((await fhir('Patient', 'https://soon-disabled.example')).headers.get('access-control-allow-origin')).toBe('https://soon-disabled.example');

    await setClientDisabled(s.db, id, true);
    await registerSmartApp(s.db, { tenant: TENANT, name: 'New', redirectUris: ['https://new.example/cb'], authMethod: 'none', scope: 'launch/patient patient/*.rs' });
    s.clock.advance(ORIGINS_TTL_MS + 1);
    const disabled = await fhir('Patient', 'https://soon-disabled.example');
    expect(disabled.status).toBe(200);
    expect(disabled.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(`${s.baseUrl}/auth/token`, 'https://soon-disabled.example', 'POST', 'content-type')).headers.get('access-control-allow-origin')).toBeNull();
    expect((await fhir('Patient', 'https://new.example')).headers.get('access-control-allow-origin')).toBe('https://new.example');
  });
});

describe('in a real browser', () => {
  let browser: Browser;
  let pages: http.Server;
  let port: number;
  beforeAll(async () => {
    // A blank page served on two origins: 127.0.0.1:<port> (registered below) and localhost:<port> (not).
    pages = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>'));
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
    port = (pages.address() as AddressInfo).port;
    await registerSmartApp(s.db, { tenant: TENANT, name: 'Browser app', redirectUris: [`http://127.0.0.1:${port}/`], authMethod: 'none', scope: 'launch/patient patient/*.rs' });
    s.clock.advance(ORIGINS_TTL_MS + 1);
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    pages?.close();
  });

  /** fetch from the page's origin with a bearer token (a preflighted request): what the script gets. */
  async function fetchFrom(origin: string, url: string, method = 'GET'): Promise<string> {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const result = await page.evaluate(
      async ([u, t, m]) => {
        try {
          const r = await fetch(u, { method: m, headers: { Authorization: `Bearer ${t}`, Accept: 'application/fhir+json', 'Content-Type': 'application/fhir+json' }, body: m === 'POST' ? JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Browser' }] }) : undefined });
          return `${r.status} ${r.headers.get('Location') ? 'location' : ''}`.trim();
        } catch (e) {
          return `blocked: ${(e as Error).name}`;
        }
      },
      [url, token, method] as const
    );
    await page.close();
    return result;
  }

  test('a registered app reads and creates through the FHIR API; another origin is blocked by the browser', async () => {
    expect(await fetchFrom(`http://127.0.0.1:${port}`, `${s.fhirBase}/Patient?family=cors`)).toBe('200');
    expect(await fetchFrom(`http://127.0.0.1:${port}`, `${s.fhirBase}/Patient`, 'POST')).toBe('201 location');
    expect(await fetchFrom(`http://localhost:${port}`, `${s.fhirBase}/Patient?family=cors`)).toBe('blocked: TypeError');
  });
});
