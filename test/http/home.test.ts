import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildAppsForTests } from '../../apps/build.ts';
import { setClientDisabled } from '../../server/src/auth/clients/smart-app.ts';
import { DEMO_TENANT, seedDemo } from '../../server/src/seed/demo.ts';
import { launchChromium } from '../support/chromium.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// `/` (server/src/http/home.ts) in a real browser: what a person sees when they type the
// server's address, on a server seeded with the demo clinic as `npm start` seeds it, and on one
// without any app registered.

const SCREENSHOTS = join(import.meta.dirname, '../../test-output/apps');
const shipped = JSON.parse(readFileSync(new URL('../../apps/apps.json', import.meta.url), 'utf8')) as { id: string; name: string; description: string }[];
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core, all rules (WCAG 2.x A/AA and best practices): violations of any impact. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource); // through the debugger protocol: the page's CSP forbids every script
  const results = await page.evaluate(() => (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact?: string; nodes: unknown[] }[] }> } }).axe.run());
  return results.violations.map((v) => `${v.impact}: ${v.id} (${v.nodes.length})`);
}

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => browser?.close());

describe('with the demo clinic', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ APPS_DIR: await buildAppsForTests() });
    // The demo backend's key is written beside the data directory: a temporary one.
    await seedDemo(s.db, { ...s.server.config, dataDir: join(tmpdir(), `bh-home-${randomUUID()}`, 'data') });
  }, 300_000);
  afterAll(async () => s?.close());

  test('a person finds sign-in and every app with what it does and who it is for; the page is accessible without JavaScript', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => consoleErrors.push(`${m.text()} ${m.location().url}`));
    const res = await page.goto(`${s.baseUrl}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toMatch(/^text\/html/);
    expect(res?.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.getByRole('heading', { level: 1 }).count()).toBe(1);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Demo Clinic');
    expect(await page.locator('main').count()).toBe(1);
    // Styled (our stylesheets load under the CSP): the sign-in link looks like a button.
    expect(await page.getByRole('link', { name: 'Sign in' }).evaluate((a) => getComputedStyle(a).backgroundColor)).toBe('rgb(11, 79, 138)');

    const apps = page.getByRole('region', { name: 'Apps' }).getByRole('listitem');
    expect(await apps.count()).toBe(shipped.length);
    for (const [i, a] of shipped.entries()) {
      const item = apps.nth(i);
      expect(await item.getByRole('link').getAttribute('href')).toBe(`/apps/${a.id}/`);
      expect(await item.getByRole('link').textContent()).toBe(a.name);
      expect(await item.textContent()).toContain(a.description);
      expect(await item.locator('.who').textContent()).toMatch(/^For (patients|clinicians|.+ and .+)\.$/);
    }
    expect(await apps.filter({ hasText: 'Intake' }).locator('.who').textContent()).toBe('For patients, parents and guardians, and clinicians.');
    expect(await apps.filter({ hasText: 'Worklist' }).locator('.who').textContent()).toBe('For clinicians.');
    expect(await page.getByText('This server runs the demo clinic').count()).toBe(1);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'home.png'), fullPage: true });
    // Usable at 360 px: nothing scrolls sideways.
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(SCREENSHOTS, 'home-phone.png'), fullPage: true });
    await context.close();

    // axe needs a script: the same page with JavaScript on (the page itself has none).
    const withJs = await browser.newPage();
    await withJs.goto(`${s.baseUrl}/`);
    expect(await axeViolations(withJs)).toEqual([]);
    await withJs.close();
    expect(consoleErrors).toEqual([]);
  });

  test('Sign in leads to the clinic\'s sign-in page; an app link starts that app\'s SMART sign-in', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.baseUrl}/`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/auth/login');
    expect(new URL(page.url()).searchParams.get('tenant')).toBe(DEMO_TENANT);
    expect(await page.locator('main').getAttribute('data-page')).toBe('login');

    // The app starts a standalone launch: the sign-in page names it.
    await page.goto(`${s.baseUrl}/`);
    await page.getByRole('link', { name: 'Worklist' }).click();
    await page.waitForURL((u) => u.pathname === '/auth/login' && u.searchParams.has('request'), { timeout: 20_000 });
    expect(await page.locator('main').textContent()).toContain('Worklist');
    await page.close();
  });

  test('developer links: the CapabilityStatement and the SMART configuration under the FHIR base', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.baseUrl}/`);
    const dev = page.getByRole('region', { name: 'For developers' });
    expect(await dev.textContent()).toContain(`${s.baseUrl}/fhir/R4`);
    for (const [name, path, body] of [
      ['CapabilityStatement', '/fhir/R4/metadata', '"resourceType":"CapabilityStatement"'],
      ['SMART configuration', '/fhir/R4/.well-known/smart-configuration', '"authorization_endpoint"'],
    ]) {
      const link = dev.getByRole('link', { name });
      expect(await link.getAttribute('href')).toBe(path);
      const res = await fetch(`${s.baseUrl}${path}`);
      expect(res.status).toBe(200);
      expect((await res.text()).replace(/\s/g, '')).toContain(body);
    }
    await page.close();
  });

  test('a disabled app is not offered', async () => {
    await setClientDisabled(s.db, 'outcomes', true);
    try {
      const res = await fetch(`${s.baseUrl}/`);
      const body = await res.text();
      expect(body).not.toContain('/apps/outcomes/');
      expect(body).toContain('/apps/intake/');
    } finally {
      await setClientDisabled(s.db, 'outcomes', false);
    }
  });
});

describe('without any app registered', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s?.close());

  test('the page says so and still offers sign-in and the developer links', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${s.baseUrl}/`);
    expect(res?.status()).toBe(200);
    expect(await page.getByText('No apps are registered on this server yet').count()).toBe(1);
    expect(await page.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe('/auth/login');
    expect(await page.getByRole('link', { name: 'CapabilityStatement' }).count()).toBe(1);
    expect(await page.getByText('demo clinic').count()).toBe(0);
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });
});
