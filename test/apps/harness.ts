import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { buildAppsForTests } from '../../apps/build.ts';
import { DEMO_LOGINS, DEMO_TOTP_SECRET } from '../../server/src/seed/demo-users.ts';
import { DEMO_TENANT, seedDemo } from '../../server/src/seed/demo.ts';
import { launchChromium } from '../support/chromium.ts';
import { totp } from '../support/login.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * The SMART apps in a real browser against a real server seeded with the demo clinic (the same
 * seed `npm start` uses): people sign in through the real login, TOTP and consent pages, and the
 * apps launch through fhirclient as they do for anyone. Screenshots go to test-output/apps/.
 */
export type DemoLogin = keyof typeof DEMO_LOGINS;

export interface AppsHarness {
  server: TestServer;
  browser: Browser;
  baseUrl: string;
  tenant: string;
  /** A system token for the demo clinic, to arrange data and check results. */
  systemToken(): Promise<string>;
  /** A new browser context (its own cookies and storage), phone-sized when asked. */
  newContext(options?: { phone?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

export const SCREENSHOTS = join(import.meta.dirname, '../../test-output/apps');

export async function startAppsHarness(env: Record<string, string> = {}): Promise<AppsHarness> {
  const appsDir = await buildAppsForTests();
  const dataParent = join(tmpdir(), `bh-apps-${randomUUID()}`);
  mkdirSync(dataParent, { recursive: true });
  const server = await startTestServer({ DATA_DIR: join(dataParent, 'data'), APPS_DIR: appsDir, ...env });
  await seedDemo(server.db, { ...server.server.config, dataDir: join(dataParent, 'data') });
  const browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    server,
    browser,
    baseUrl: server.baseUrl,
    tenant: DEMO_TENANT,
    systemToken: () => server.token('system/*.cruds', DEMO_TENANT),
    newContext: (options = {}) =>
      browser.newContext(options.phone ? { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true } : { viewport: { width: 1280, height: 900 } }),
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * Completes the sign-in pages the browser is on, as `who` (a demo login): username and password,
 * the TOTP code for practitioners, the patient picker (first patient, or `patientName`), and
 * consent. Returns when the browser has left /auth/ (back at the app).
 */
export async function signIn(page: Page, who: DemoLogin, options: { patientName?: string } = {}): Promise<void> {
  const login = DEMO_LOGINS[who];
  for (let step = 0; step < 8; step++) {
    await page.waitForLoadState('domcontentloaded');
    const path = new URL(page.url()).pathname;
    if (!path.startsWith('/auth/')) return;
    const kind = await page.locator('main[data-page]').getAttribute('data-page', { timeout: 10_000 });
    if (kind === 'login') {
      if (await page.getByLabel('Clinic').count()) await page.getByLabel('Clinic').fill(DEMO_TENANT);
      await page.getByLabel('Username').fill(login.username);
      await page.getByLabel('Password').fill(login.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    } else if (kind === 'totp' || kind === 'second-factor') {
      await page.getByLabel('Verification code').fill(totp(DEMO_TOTP_SECRET));
      await page.getByRole('button', { name: 'Verify' }).click();
    } else if (kind === 'pick-patient') {
      const choice = options.patientName ? page.getByLabel(new RegExp(options.patientName)) : page.locator('input[type=radio]').first();
      await choice.check();
      await page.getByRole('button', { name: 'Continue' }).click();
    } else if (kind === 'consent') {
      await page.getByRole('button', { name: 'Allow' }).click();
    } else {
      throw new Error(`signIn: unexpected page ${kind} at ${path}`);
    }
    await page.waitForURL((u) => u.pathname !== path || u.search !== new URL(page.url()).search, { timeout: 15_000 }).catch(() => undefined);
  }
  throw new Error(`signIn: still in /auth/ at ${page.url()}`);
}

/** Opens an app standalone (`/apps/<id>/`) in a new page and signs in as `who`. */
export async function openApp(h: AppsHarness, context: BrowserContext, appId: string, who: DemoLogin, options: { patientName?: string } = {}): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${h.baseUrl}/apps/${appId}/`);
  await page.waitForURL((u) => u.pathname.startsWith('/auth/'), { timeout: 15_000 });
  await signIn(page, who, options);
  await page.waitForURL((u) => u.pathname.startsWith(`/apps/${appId}/`), { timeout: 15_000 });
  return page;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core on the page as it is now: the serious and critical violations (expect none). */
export async function seriousViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource); // through the debugger protocol: the page's CSP (rightly) forbids inline scripts
  const results = await page.evaluate(() => (window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run());
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

interface AxeResults {
  violations: { id: string; impact?: string; help: string; nodes: { target: string[] }[] }[];
}
