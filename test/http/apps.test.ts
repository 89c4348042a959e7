import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { APPS_CSP } from '../../server/src/http/apps.ts';
import { type AppsHarness, type DemoLogin, openApp, startAppsHarness } from '../apps/harness.ts';

// The apps' static routes (server/src/http/apps.ts) on a real server with the demo clinic:
// caching (hashed bundles for a year, pages revalidated), precompressed bundles, a CSP that lets
// every app run in a real browser without a single violation, and plain 404 pages.

let h: AppsHarness;
beforeAll(async () => {
  h = await startAppsHarness();
}, 300_000);
afterAll(async () => h?.close());

/** A raw GET (no automatic decompression): status, headers, body bytes. */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${h.baseUrl}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

/** The bundles a page loads (script src, modulepreload and stylesheet href). */
function assetsOf(page: string): string[] {
  return [...page.matchAll(/(?:src|href)="(\/apps\/assets\/[^"]+)"/g)].map((m) => m[1]);
}

const shipped = JSON.parse(readFileSync(join(import.meta.dirname, '../../apps/apps.json'), 'utf8')) as { id: string; audience: string[]; ehrScope: string }[];

describe('caching and compression', () => {
  test('pages are revalidated on every load, hashed bundles kept for a year', async () => {
    const page = await get('/apps/worklist/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toBe(APPS_CSP);
    // no-cache means "ask first": the validator makes the answer a cheap 304.
    expect(page.headers.etag).toBeTruthy();
    expect((await get('/apps/worklist/', { 'if-none-match': String(page.headers.etag) })).status).toBe(304);
    expect((await get('/apps/worklist/launch.html')).headers['cache-control']).toBe('no-cache');

    const assets = assetsOf(page.body.toString('utf8'));
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const a of assets) {
      const res = await get(a, { 'accept-encoding': 'identity' });
      expect(res.status, a).toBe(200);
      expect(res.headers['cache-control'], a).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-encoding'], a).toBeUndefined();
    }
  });

  test('a browser that accepts gzip gets the precompressed bundle, same bytes once unzipped', async () => {
    const script = assetsOf((await get('/apps/worklist/')).body.toString('utf8')).find((a) => a.endsWith('.js')) as string;
    const plain = await get(script, { 'accept-encoding': 'identity' });
    const zipped = await get(script, { 'accept-encoding': 'gzip, deflate, br' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['content-type']).toMatch(/^text\/javascript/);
    expect(zipped.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(zipped.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    expect(zipped.body.length).toBeLessThan(plain.body.length / 2);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
  });
});

describe('missing files', () => {
  test.each([
    '/apps/worklist/no-such-page.html',
    '/apps/no-such-app/',
    '/apps/assets/no-such-bundle-AbCdEf12.js',
    '/apps/.build-hash',
    '/apps/..%2f..%2fpackage.json',
    '/apps/worklist/..%2f..%2f..%2fpackage.json',
  ])('%s: a plain 404 page, no FHIR body, nothing internal', async (path) => {
    const res = await get(path, { accept: 'text/html,application/xhtml+xml' });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toBe(APPS_CSP);
    const body = res.body.toString('utf8');
    expect(body).toContain('<h1>Page not found</h1>');
    expect(body).toContain('href="/"');
    expect(body).not.toMatch(/resourceType|OperationOutcome|Error:|\bat .+:\d+:\d+|node_modules|bh-fhir/);
  });

  test('an app folder without its slash redirects to it; /apps/ leads to the home page', async () => {
    const folder = await get('/apps/worklist');
    expect(folder.status).toBe(301);
    expect(folder.headers.location).toBe('/apps/worklist/');
    const list = await get('/apps/');
    expect(list.status).toBe(302);
    expect(list.headers.location).toBe('/');
  });
});

describe('the CSP in a real browser', () => {
  /** Everything the browser reports about the CSP: console errors and securitypolicyviolation events. */
  function watchCsp(page: Page, seen: string[]): void {
    page.on('console', (m: ConsoleMessage) => {
      if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) seen.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => {
      if (/Content Security Policy|unsafe-eval/i.test(e.message)) seen.push(`error: ${e.message}`);
    });
  }

  const who = (audience: string[]): DemoLogin => (audience.includes('patient') ? 'patient' : 'clinician');

  test.each(shipped.map((a) => [a.id, a.audience] as const))('%s launches standalone, signs in and runs without a CSP violation', async (id, audience) => {
    const context = await h.newContext();
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    const violations: string[] = [];
    context.on('page', (p) => watchCsp(p, violations));
    const app = await openApp(h, context, id, who(audience));
    await app.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 20_000 });
    await app.waitForLoadState('networkidle');
    // The app is running (React rendered it) with Mantine's theme, whose CSS variables come in an inline <style>.
    expect(await app.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--mantine-color-body').trim())).not.toBe('');
    expect(violations).toEqual([]);
    await context.close();
  });
});
