import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Observation, Questionnaire, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppsHarness, openApp, screenshot, seriousViolations, signIn, startAppsHarness } from './harness.ts';
import { launchFrom } from './launcher-support.ts';
import { GAD7, PHQ9, answer, api, assignAsClinician, checked, fitsWidth, idOf, revokeAppGrant, search } from './intake-support.ts';

/**
 * The intake app in a real browser against the real server with the demo clinic: people sign in
 * through the real pages, answer by clicking, and every number on screen is checked against what
 * the server stored.
 */
const questionnaire = (name: string): Questionnaire => JSON.parse(readFileSync(join(import.meta.dirname, `../../questionnaires/${name}.json`), 'utf8')) as Questionnaire;
const phq9 = questionnaire('phq-9');
const gad7 = questionnaire('gad-7');
const scored = (q: Questionnaire) => (q.item ?? []).filter((i) => i.required);
const question = (text: string | undefined) => new RegExp(`^\\d+\\. ${(text ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

let h: AppsHarness;
let linh: string;
let maja: string;
let rivera: string;
beforeAll(async () => {
  h = await startAppsHarness({ RISK_POLL_MS: '0' });
  linh = await idOf(h, 'Patient', 'Nguyen');
  maja = await idOf(h, 'Patient', 'Lindqvist');
  rivera = await idOf(h, 'Practitioner', 'Rivera');
}, 240_000);
afterAll(async () => h?.close());

async function noSeriousViolations(page: Page): Promise<void> {
  expect(await seriousViolations(page)).toEqual([]);
}

describe('the demo patient', () => {
  let task: Task & { id: string };

  it('sees an assignment Dr. Rivera just made, starts it, saves part of it for later', async () => {
    task = await assignAsClinician(h, rivera, linh, PHQ9, 'Please fill this in before our next session.');
    const context = await h.newContext();
    const page = await openApp(h, context, 'intake', 'patient');
    await page.getByRole('heading', { level: 1, name: 'Your questionnaires' }).waitFor();
    const start = page.getByRole('button', { name: /^Start PHQ-9/ });
    await start.waitFor();
    await page.getByText(/^Asked by Dr\. Ana Rivera on /).waitFor();
    await screenshot(page, 'intake-home');
    await noSeriousViolations(page);

    await start.click();
    await page.getByRole('heading', { level: 1, name: phq9.title }).waitFor();
    const items = scored(phq9);
    // Calculated totals are never shown as questions.
    expect(await page.getByText(/total score/).count()).toBe(0);
    for (const item of items.slice(0, 4)) await answer(page, question(item.text), 'More than half the days');
    await screenshot(page, 'intake-form');
    await noSeriousViolations(page);
    await page.getByRole('button', { name: 'Save and finish later' }).click();
    await page.getByText(/^Saved at /).waitFor();

    const drafts = await search<QuestionnaireResponse>(h, `QuestionnaireResponse?subject=Patient/${linh}&status=in-progress`);
    expect(drafts).toHaveLength(1);
    expect(drafts[0]).toMatchObject({ questionnaire: PHQ9, status: 'in-progress', subject: { reference: `Patient/${linh}` }, source: { reference: `Patient/${linh}` } });
    expect(drafts[0].item).toHaveLength(4);
    expect((await api<Task>(h, `Task/${task.id}`)).status).toBe('in-progress');
    await context.close();
  });

  it('signs in again later, resumes, is told what the server refused next to the question, then submits with item 9 positive: crisis resources at once, the server score, the assignment completed', async () => {
    const context = await h.newContext();
    const page = await openApp(h, context, 'intake', 'patient');
    await page.getByRole('button', { name: /^Continue PHQ-9/ }).click();
    const items = scored(phq9);
    for (const item of items.slice(0, 4)) expect(await checked(page, question(item.text), 'More than half the days')).toBe(true);
    // Items 6-9 answered, item 5 skipped: the server refuses and names it.
    for (const item of items.slice(5, 8)) await answer(page, question(item.text), 'Not at all');
    await answer(page, question(items[8].text), 'Several days');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('alert').filter({ hasText: 'Some answers need attention' }).waitFor();
    const skipped = page.getByRole('group', { name: question(items[4].text) });
    await expect(skipped.getByText('This question needs an answer.').isVisible()).resolves.toBe(true);
    // Nothing typed is lost.
    expect(await checked(page, question(items[0].text), 'More than half the days')).toBe(true);
    expect(await checked(page, question(items[8].text), 'Several days')).toBe(true);
    await screenshot(page, 'intake-refused');
    await noSeriousViolations(page);

    await answer(page, question(items[4].text), 'Not at all');
    await page.getByRole('button', { name: 'Submit' }).click();
    const crisis = page.getByRole('alert', { name: /Help now/ });
    await crisis.waitFor();
    expect(await crisis.textContent()).toContain('988');
    await expect(crisis.getByRole('link', { name: 'Call 988' }).getAttribute('href')).resolves.toBe('tel:988');
    await expect(crisis.getByRole('link', { name: 'Call 911' }).getAttribute('href')).resolves.toBe('tel:911');

    const [response] = await search<QuestionnaireResponse>(h, `QuestionnaireResponse?subject=Patient/${linh}&status=completed&_sort=-_lastUpdated&_count=1`);
    expect(response).toMatchObject({ questionnaire: PHQ9, source: { reference: `Patient/${linh}` } });
    expect(response.authored).toBeTruthy();
    const [total] = (await search<Observation>(h, `Observation?derived-from=QuestionnaireResponse/${response.id}&code=http://loinc.org|44261-6`));
    // 4 × 2 + item 9 = 1 → 9: mild, as the server scored it.
    expect(total.valueQuantity?.value).toBe(9);
    const band = total.interpretation?.[0]?.text as string;
    const result = page.getByRole('status').filter({ has: page.getByRole('heading', { name: 'Your result' }) });
    await result.waitFor();
    expect(await result.textContent()).toContain(`score is ${total.valueQuantity?.value}: ${band}.`);
    await screenshot(page, 'intake-result-crisis');
    await noSeriousViolations(page);

    const done = await api<Task>(h, `Task/${task.id}`);
    expect(done).toMatchObject({ status: 'completed', output: [{ valueReference: { reference: `QuestionnaireResponse/${response.id}` } }] });

    // Back home: the crisis resources stay while the risk is open; nothing left to fill in.
    await page.getByRole('button', { name: 'Back to your list' }).click();
    await page.getByText('Nothing to fill in right now', { exact: false }).waitFor();
    await expect(page.getByRole('alert', { name: /Help now/ }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'intake-home-risk-open');
    await noSeriousViolations(page);
    await context.close();
  });

  it('keeps the answers on the device when the session ends, and brings them back after signing in again', async () => {
    await assignAsClinician(h, rivera, linh, GAD7);
    const context = await h.newContext();
    const page = await openApp(h, context, 'intake', 'patient');
    await page.getByRole('button', { name: /^Start Generalized Anxiety Disorder 7 item/ }).click();
    const items = scored(gad7);
    await answer(page, question(items[0].text), 'Several days');
    await answer(page, question(items[1].text), 'Nearly every day');
    await revokeAppGrant(page, 'intake');
    await page.getByRole('button', { name: 'Save and finish later' }).click();
    await page.getByRole('alert').filter({ hasText: 'Your session has ended' }).waitFor();
    const kept = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('bh:intake:')));
    expect(kept).toHaveLength(1);
    await screenshot(page, 'intake-session-ended');
    await noSeriousViolations(page);

    await page.getByRole('button', { name: 'Sign in again' }).click();
    // Her sign-in at the server may still hold: then the app is back at once, without the sign-in pages.
    await expect
      .poll(async () => new URL(page.url()).pathname.startsWith('/auth/') || (await page.getByText('Your answers were kept').count()) > 0, { timeout: 30_000 })
      .toBe(true);
    await signIn(page, 'patient');
    await page.getByText('Your answers were kept').waitFor();
    expect(await checked(page, question(items[0].text), 'Several days')).toBe(true);
    expect(await checked(page, question(items[1].text), 'Nearly every day')).toBe(true);
    await page.getByRole('button', { name: 'Save and finish later' }).click();
    await page.getByText(/^Saved at /).waitFor();
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('bh:intake:')))).toEqual([]);
    await context.close();
  });

  it('says so when the network fails and saves by itself when it is back', async () => {
    const context = await h.newContext();
    const page = await openApp(h, context, 'intake', 'patient');
    await page.getByRole('button', { name: /^Continue Generalized Anxiety Disorder 7 item/ }).click();
    const items = scored(gad7);
    expect(await checked(page, question(items[1].text), 'Nearly every day')).toBe(true);
    await answer(page, question(items[2].text), 'Not at all');
    await page.route('**/fhir/R4/QuestionnaireResponse/**', (route) => route.abort('internetdisconnected'));
    await page.getByRole('button', { name: 'Save and finish later' }).click();
    await page.getByRole('alert').filter({ hasText: 'No connection' }).waitFor();
    await expect(page.getByText(/Trying again in \d+ seconds/).isVisible()).resolves.toBe(true);
    await noSeriousViolations(page);
    await page.unroute('**/fhir/R4/QuestionnaireResponse/**');
    await page.getByText(/^Saved at /).waitFor({ timeout: 15_000 });
    const [draft] = await search<QuestionnaireResponse>(h, `QuestionnaireResponse?subject=Patient/${linh}&status=in-progress&questionnaire=${encodeURIComponent(GAD7)}`);
    expect(draft.item).toHaveLength(3);
    await context.close();
  });

  it('works on a 360-px phone', async () => {
    const context = await h.newContext({ phone: true });
    const page = await openApp(h, context, 'intake', 'patient');
    await page.getByRole('heading', { level: 1, name: 'Your questionnaires' }).waitFor();
    await page.getByRole('button', { name: /^Continue Generalized Anxiety Disorder 7 item/ }).waitFor();
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'intake-phone-home');
    await noSeriousViolations(page);
    await page.getByRole('button', { name: /^Continue Generalized Anxiety Disorder 7 item/ }).click();
    await page.getByRole('button', { name: 'Submit' }).waitFor();
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'intake-phone-form');
    await noSeriousViolations(page);
    await context.close();
  });
});

describe('the guardian of a minor', () => {
  it('sees only what the minor\'s consent shares: nothing of her questionnaires without one; her assignment, and never another patient\'s, with one', async () => {
    await assignAsClinician(h, rivera, maja, GAD7);
    const before = await h.newContext();
    let page = await openApp(h, before, 'intake', 'guardian', { patientName: 'Maja' });
    await page.getByRole('heading', { level: 1, name: 'Questionnaires for Maja Lindqvist' }).waitFor();
    await page.getByText("Maja Lindqvist's questionnaires have not been shared with you.").waitFor();
    await screenshot(page, 'intake-guardian-not-shared');
    await noSeriousViolations(page);
    await before.close();

    // Maja consents to her father seeing and answering her questionnaires (not her scores).
    const [erik] = await search(h, 'RelatedPerson?name=Erik&_count=1');
    await api(h, 'Consent', {
      method: 'POST',
      json: {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${maja}` },
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
        provision: {
          type: 'permit',
          actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GUARD' }] }, reference: { reference: `RelatedPerson/${erik.id}` } }],
          class: [
            { system: 'http://hl7.org/fhir/resource-types', code: 'Task' },
            { system: 'http://hl7.org/fhir/resource-types', code: 'QuestionnaireResponse' },
          ],
        },
      },
    });
    const after = await h.newContext();
    page = await openApp(h, after, 'intake', 'guardian', { patientName: 'Maja' });
    await page.getByRole('heading', { level: 1, name: 'Questionnaires for Maja Lindqvist' }).waitFor();
    await page.getByRole('button', { name: /^Start Generalized Anxiety Disorder 7 item/ }).waitFor();
    // Linh's open assignments exist, but only Maja's one shows.
    expect((await search<Task>(h, `Task?patient=Patient/${linh}&status=requested,in-progress`)).length).toBeGreaterThan(0);
    expect(await page.getByRole('button', { name: /^(Start|Continue) / }).count()).toBe(1);
    await screenshot(page, 'intake-guardian-home');
    await noSeriousViolations(page);

    await page.getByRole('button', { name: /^Start Generalized Anxiety Disorder 7 item/ }).click();
    for (const item of scored(gad7)) await answer(page, question(item.text), 'Several days');
    await page.getByRole('button', { name: 'Submit' }).click();
    // Her score is not shared with him: the server's result is not shown, only that it was received.
    await page.getByText('Your care team has your answers').waitFor();
    expect(await page.getByText('Your result').count()).toBe(0);
    const [response] = await search<QuestionnaireResponse>(h, `QuestionnaireResponse?subject=Patient/${maja}&status=completed&_sort=-_lastUpdated&_count=1`);
    expect(response.source?.reference).toBe(`RelatedPerson/${erik.id}`);
    await screenshot(page, 'intake-guardian-submitted');
    await noSeriousViolations(page);
    await after.close();
  });
});

describe('a clinician on the patient\'s behalf, EHR launch', () => {
  it('launches intake from the EHR for her patient, fills a PHQ-9 with the patient, and sees the server\'s score', async () => {
    const context = await h.newContext();
    const ehr = await openApp(h, context, 'launcher', 'clinician');
    await ehr.getByRole('heading', { level: 1, name: 'Launch an app' }).waitFor();
    await ehr.getByLabel('Search your patients by name').fill('Nguyen');
    await ehr.getByRole('button', { name: 'Search' }).click();
    await ehr.getByRole('radio', { name: /^Linh Nguyen/ }).check();
    await ehr.getByRole('radiogroup', { name: /Encounter/ }).getByRole('radio', { name: 'No encounter' }).check();
    await ehr.getByRole('radio', { name: 'Intake', exact: true }).check();
    const launched = await launchFrom(ehr, context, 'intake');
    expect(launched.context).toMatchObject({ clientId: 'intake', patient: linh });
    const page = launched.page;
    await page.getByRole('heading', { level: 1, name: 'Questionnaires for Linh Nguyen' }).waitFor();
    await page.getByRole('region', { name: 'Patient' }).getByText(/Linh Nguyen/).waitFor();
    await page.getByRole('heading', { name: 'Start another questionnaire with the patient' }).waitFor();
    await screenshot(page, 'intake-clinician-ehr-home');
    await noSeriousViolations(page);
    await page.getByRole('button', { name: phq9.title }).click();
    for (const item of scored(phq9)) await answer(page, question(item.text), 'Not at all');
    await page.getByRole('button', { name: 'Submit' }).click();
    const result = page.getByRole('status').filter({ has: page.getByRole('heading', { name: 'Your result' }) });
    await result.waitFor();
    const [response] = await search<QuestionnaireResponse>(h, `QuestionnaireResponse?subject=Patient/${linh}&status=completed&_sort=-_lastUpdated&_count=1`);
    expect(response.source?.reference).toBe(`Practitioner/${rivera}`);
    const [total] = await search<Observation>(h, `Observation?derived-from=QuestionnaireResponse/${response.id}&code=http://loinc.org|44261-6`);
    expect(await result.textContent()).toContain(`The ${phq9.title} score is ${total.valueQuantity?.value}: ${total.interpretation?.[0]?.text}.`);
    // No positive answer: no crisis resources for this response.
    expect(await page.getByRole('alert', { name: /Help now/ }).count()).toBe(0);
    await screenshot(page, 'intake-clinician-result');
    await noSeriousViolations(page);
    await context.close();
  }, 120_000);
});
