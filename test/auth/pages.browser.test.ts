import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type People, passwordOf, seedPeople, totp } from '../support/login.ts';

/**
 * The sign-in pages in a real browser with JavaScript off: login, TOTP enrolment, second
 * factor, patient picker and consent, with the accessibility basics on every page.
 */
let server: TestServer;
let people: People;
let browser: Browser;

beforeAll(async () => {
  server = await startTestServer();
  people = await seedPeople(server);
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function newPage(): Promise<{ context: BrowserContext; page: Page; cspErrors: string[] }> {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const cspErrors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  return { context, page, cspErrors };
}

/** lang, a title, exactly one h1, every visible input and select labelled, the stylesheet applied. */
async function checkBasics(page: Page, name: string): Promise<void> {
  expect(await page.locator('main').getAttribute('data-page')).toBe(name);
  expect(await page.locator('html').getAttribute('lang')).toBe('en');
  expect((await page.title()).length).toBeGreaterThan(0);
  expect(await page.locator('h1').count()).toBe(1);
  for (const input of await page.locator('input:not([type=hidden]), select').all()) {
    const id = await input.getAttribute('id');
    expect(id, 'every input has an id').toBeTruthy();
    expect(await page.locator(`label[for="${id}"]`).count(), `label for #${id}`).toBe(1);
  }
  // The stylesheet (our own origin, allowed by the CSP) is in effect.
  const buttons = page.locator('button[type=submit]');
  if ((await buttons.count()) > 0) {
    expect(await buttons.first().evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe('rgba(0, 0, 0, 0)');
  }
}

async function checkAnnouncedError(page: Page, inputId: string): Promise<void> {
  const alert = page.locator('[role=alert]');
  expect(await alert.count()).toBe(1);
  const alertId = await alert.getAttribute('id');
  expect(await page.locator(`#${inputId}`).getAttribute('aria-describedby')).toBe(alertId);
  expect(await page.locator(`#${inputId}`).getAttribute('aria-invalid')).toBe('true');
}

describe('sign-in pages without JavaScript', () => {
  it('login → TOTP enrolment → recovery codes → patient picker → consent → back to the app', async () => {
    await createUser(server.db, { tenant: people.tenant, username: 'browser-new', password: passwordOf('browser-new'), roles: ['clinician'], fhirUser: `Practitioner/${people.practitioner}` });
    const { context, page, cspErrors } = await newPage();
    await page.goto(people.authorizeUrl({ state: 'browser-state', scope: 'openid fhirUser launch/patient patient/*.rs' }));
    await checkBasics(page, 'login');
    await expect(page.locator('main')).toBeDefined();
    expect(await page.locator('main').innerText()).toContain('Test App');

    await page.getByLabel('Username').fill('browser-new');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await checkBasics(page, 'login');
    await checkAnnouncedError(page, 'password');

    await page.getByLabel('Password').fill(passwordOf('browser-new'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await checkBasics(page, 'totp-enrol');
    const secret = (await page.locator('[data-totp-secret]').innerText()).trim();
    expect(await page.locator('a[href^="otpauth://totp/"]').count()).toBe(1);
    await page.getByLabel('Code shown by the app').fill('000000' === totp(secret) ? '111111' : '000000');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await checkAnnouncedError(page, 'code');
    await page.getByLabel('Code shown by the app').fill(totp(secret));
    await page.getByRole('button', { name: 'Confirm' }).click();

    await checkBasics(page, 'recovery-codes');
    expect(await page.locator('ul.codes li').count()).toBe(10);
    await page.getByRole('button', { name: /continue/i }).click();

    await checkBasics(page, 'pick-patient');
    await page.getByLabel('Search patients by name').fill('Andersson');
    await page.getByRole('button', { name: 'Search' }).click();
    await checkBasics(page, 'pick-patient');
    await page.getByLabel(/Alva Andersson, born 1980-02-03/).check();
    await page.getByRole('button', { name: 'Continue' }).click();

    await checkBasics(page, 'consent');
    const consent = await page.locator('main').innerText();
    expect(consent).toContain('Test App');
    expect(consent).toContain('Read and search all kinds of records of the selected patient');
    expect(consent).toContain('Alva Andersson');
    const callback = page.waitForRequest((r) => r.url().startsWith(people.redirectUri));
    await page.getByRole('button', { name: 'Allow' }).click();
    const url = new URL((await callback).url());
    expect(url.searchParams.get('state')).toBe('browser-state');
    expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cspErrors).toEqual([]);
    await context.close();
  }, 60_000);

  it('second factor for an enrolled practitioner, then consent denied', async () => {
    await createUser(server.db, { tenant: people.tenant, username: 'browser-mfa', password: passwordOf('browser-mfa'), roles: ['clinician'], fhirUser: `Practitioner/${people.practitioner}`, totpSecret: people.totpSecret });
    const { context, page, cspErrors } = await newPage();
    await page.goto(people.authorizeUrl({ state: 's2', scope: 'user/*.cruds openid' }));
    await page.getByLabel('Username').fill('browser-mfa');
    await page.getByLabel('Password').fill(passwordOf('browser-mfa'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await checkBasics(page, 'second-factor');
    await page.getByLabel('Verification code').fill(totp(people.totpSecret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await checkBasics(page, 'consent');
    const callback = page.waitForRequest((r) => r.url().startsWith(people.redirectUri));
    await page.getByRole('button', { name: 'Deny' }).click();
    const url = new URL((await callback).url());
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe('s2');
    expect(cspErrors).toEqual([]);
    await context.close();
  }, 60_000);

  it('a form may redirect to the app on another origin (CSP form-action), e.g. login with a remembered consent', async () => {
    const port = new URL(server.baseUrl).port;
    const redirectUri = `http://localhost:${port}/apps/other-origin/callback`;
    await server.db.query(
      `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status)
       VALUES ($1, 'other-origin', 'Other Origin App', 'smart-app', 'launch/patient patient/*.rs', 'none', $2, 'approved')`,
      [people.tenant, [redirectUri]]
    );
    const url = people.authorizeUrl({ client_id: 'other-origin', redirect_uri: redirectUri, scope: 'launch/patient patient/*.rs' });
    for (const round of [1, 2]) {
      const { context, page, cspErrors } = await newPage();
      await page.goto(url);
      await page.getByLabel('Username').fill(people.users.patient);
      await page.getByLabel('Password').fill(passwordOf(people.users.patient));
      const callback = page.waitForRequest((r) => r.url().startsWith(redirectUri), { timeout: 15_000 });
      await page.getByRole('button', { name: 'Sign in' }).click();
      if (round === 1) {
        await checkBasics(page, 'consent');
        await page.getByRole('button', { name: 'Allow' }).click();
      }
      expect(new URL((await callback).url()).searchParams.get('code')).toBeTruthy();
      expect(cspErrors).toEqual([]);
      await context.close();
    }
  }, 60_000);

  it('error pages are pages too (unknown client)', async () => {
    const { context, page } = await newPage();
    const res = await page.goto(people.authorizeUrl({ client_id: 'nope' }));
    expect(res?.status()).toBe(400);
    await checkBasics(page, 'error');
    expect(await page.locator('[role=alert]').count()).toBe(1);
    await context.close();
  });
});
