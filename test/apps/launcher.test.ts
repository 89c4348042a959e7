import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { type AppsHarness, openApp, screenshot, seriousViolations, signIn, startAppsHarness } from './harness.ts';
import { launchFrom } from './launcher-support.ts';

/**
 * The EHR launcher (apps/launcher) in a real browser against the demo clinic: Dr. Rivera signs in,
 * sees only the patients she cares for (Aisha Rahman is Dr. Shah's patient: demo-clinical.ts),
 * picks a patient, a visit and the notes app, and the app opens in a new tab with that patient
 * and encounter as its SMART launch context. Consent is asked once per patient.
 */
let h: AppsHarness;
beforeAll(async () => {
  h = await startAppsHarness();
}, 180_000);
afterAll(async () => h?.close());

it('a clinician launches the notes app for a patient she cares for, with a visit; consent is asked once per patient', async () => {
  // Aisha Rahman exists in the clinic (the system sees her), but is not Dr. Rivera's patient.
  const all = (await (await h.server.fhir('Patient?family=Rahman', { token: await h.systemToken() })).json()) as Bundle<Patient>;
  expect(all.entry?.length).toBe(1);

  const context = await h.newContext();
  const page = await openApp(h, context, 'launcher', 'clinician');
  await page.getByRole('heading', { level: 1, name: 'Launch an app' }).waitFor();
  await expect.poll(() => page.getByText('Signed in as Dr. Ana Rivera').count(), { timeout: 15_000 }).toBe(1);

  // Her patients, and only hers.
  const patients = page.getByRole('radiogroup', { name: /Patient/ });
  await patients.getByRole('radio').first().waitFor();
  const listed = await patients.getByRole('radio').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).labels?.[0]?.textContent ?? ''));
  expect(listed.some((n) => n.startsWith('Sofía Martínez'))).toBe(true);
  expect(listed.some((n) => n.startsWith("James O'Brien"))).toBe(true);
  for (const other of ['Rahman', 'Silva', 'Kim', 'Weber', 'Haddad']) expect(listed.join('|')).not.toContain(other);
  await page.getByLabel('Search your patients by name').fill('Rahman');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No patients of yours match “Rahman”.').waitFor();
  expect(await seriousViolations(page)).toEqual([]);

  // Pick Sofía Martínez (found by her birth date, searched on the server), her latest visit, and the notes app.
  await page.getByLabel('Search your patients by name').fill('1979-06-03');
  await page.getByRole('button', { name: 'Search' }).click();
  const sofia = page.getByRole('radio', { name: /^Sofía Martínez, born 1979-06-03/ });
  await sofia.check();
  const sofiaId = await sofia.inputValue();
  const visits = page.getByRole('radiogroup', { name: /Encounter/ });
  await visits.getByRole('radio', { name: 'No encounter' }).waitFor();
  const latest = visits.getByRole('radio').nth(1);
  await latest.check();
  const encounterId = await latest.inputValue();
  expect(encounterId).not.toBe('none');
  await page.getByRole('radio', { name: 'Notes' }).check();
  await screenshot(page, 'launcher-choose');
  expect(await seriousViolations(page)).toEqual([]);

  // Launch: a new tab, consent for this patient, and the app has patient and encounter in context.
  const first = await launchFrom(page, context, 'notes');
  expect(first.consentAsked).toBe(true);
  expect(first.context).toMatchObject({ clientId: 'notes', patient: sofiaId, encounter: encounterId });
  await first.page.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 20_000 });
  await screenshot(first.page, 'launcher-notes-launched');
  await page.getByRole('status').filter({ hasText: 'Notes for Sofía Martínez' }).waitFor();
  await screenshot(page, 'launcher-launched');
  expect(await seriousViolations(page)).toEqual([]);

  // Same app, same patient again: consent remembered.
  const again = await launchFrom(page, context, 'notes');
  expect(again.consentAsked).toBe(false);
  expect(again.context).toMatchObject({ patient: sofiaId, encounter: encounterId });

  // Another patient, no visit: consent is asked again (approval was for Sofía only).
  await page.getByLabel('Search your patients by name').fill('');
  await page.getByRole('button', { name: 'Search' }).click();
  const james = page.getByRole('radio', { name: /^James O'Brien/ });
  await james.check();
  const jamesId = await james.inputValue();
  await page.getByRole('radiogroup', { name: /Encounter/ }).getByRole('radio', { name: 'No encounter' }).check();
  await page.getByRole('radio', { name: 'Notes' }).check();
  const other = await launchFrom(page, context, 'notes');
  expect(other.consentAsked).toBe(true);
  expect(other.context.patient).toBe(jamesId);
  expect(other.context.encounter).toBeUndefined();
  await context.close();
}, 180_000);

it('the old EHR page /auth/ehr leads to the launcher; the launcher fits a 360-px phone', async () => {
  const context = await h.newContext({ phone: true });
  const page = await context.newPage();
  await page.goto(`${h.baseUrl}/auth/ehr`);
  await page.waitForURL((u) => u.pathname.startsWith('/auth/login') || u.pathname === '/auth/authorize/continue', { timeout: 15_000 });
  await signIn(page, 'clinician');
  await page.waitForURL((u) => u.pathname === '/apps/launcher/', { timeout: 15_000 });
  await page.getByRole('heading', { level: 1, name: 'Launch an app' }).waitFor();
  await page.getByRole('radiogroup', { name: /Patient/ }).getByRole('radio').first().waitFor();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await screenshot(page, 'launcher-phone');
  expect(await seriousViolations(page)).toEqual([]);

  // A refused search says so in plain words (the server's OperationOutcome text, never JSON).
  await page.route('**/fhir/R4/Patient?*', (route) =>
    route.fulfill({
      status: 400,
      contentType: 'application/fhir+json',
      body: JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', details: { text: 'Search by name needs at least two letters' } }] }),
    })
  );
  await page.getByLabel('Search your patients by name').fill('x');
  await page.getByRole('button', { name: 'Search' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Search failed' });
  await alert.waitFor();
  expect(await alert.textContent()).toContain('Search by name needs at least two letters');
  expect(await alert.textContent()).not.toContain('{');
  await screenshot(page, 'launcher-phone-search-refused');
  expect(await seriousViolations(page)).toEqual([]);
  await context.close();
}, 120_000);
