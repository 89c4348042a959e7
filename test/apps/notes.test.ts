import type { Composition, DocumentReference, Encounter, Task } from '@medplum/fhirtypes';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppsHarness, openApp, screenshot, seriousViolations, signIn, startAppsHarness } from './harness.ts';
import { demoVisit, ehrLaunchNotes, search } from './notes-support.ts';

/**
 * The notes app in a real browser against a real server with the demo clinic: Dr. Rivera, EHR-
 * launched for Sofía Martínez's latest visit, drafts a SOAP note (with restricted psychotherapy
 * notes), saves and signs it; Dr. Okoye countersigns it from the supervisor's queue; Dr. Rivera
 * adds an addendum and assigns a PHQ-9. Each screen is checked with axe-core and photographed.
 */
let h: AppsHarness;
let rivera: BrowserContext;
let okoye: BrowserContext;
let page: Page;
let visit: Awaited<ReturnType<typeof demoVisit>>;
let noteId: string;

beforeAll(async () => {
  h = await startAppsHarness();
  visit = await demoVisit(h, 'Martínez');
  rivera = await h.newContext();
  okoye = await h.newContext();
}, 240_000);
afterAll(async () => h?.close());

async function noAxeProblems(p: Page): Promise<void> {
  expect(await seriousViolations(p)).toEqual([]);
}

describe.sequential('notes', () => {
  it('EHR launch for a patient and visit shows the scores since the last visit, goals and care plan', async () => {
    page = await ehrLaunchNotes(h, rivera, 'clinician', visit);
    await page.getByRole('heading', { level: 1, name: /Session notes: Sofía Martínez/ }).waitFor();
    await expect.poll(() => page.getByText('(from the EHR)').count()).toBe(1);
    const scores = page.getByRole('table', { name: 'Scores since the last visit' });
    await scores.waitFor();
    // Her last two sessions: PHQ-9 6 then 5, GAD-7 6 then 5, with the server's bands.
    await expect.poll(() => scores.getByRole('row').count()).toBe(5);
    await expect.poll(() => scores.getByRole('row', { name: /PHQ-9 5 Mild depression/ }).count()).toBe(1);
    await page.getByText('Depression in remission: PHQ-9 below 5').waitFor();
    await page.getByText(/Depression program: Sofía Martínez/).waitFor();
    await screenshot(page, 'notes-visit');
    await noAxeProblems(page);
  });

  it('the clinician drafts and saves a SOAP note; the psychotherapy notes are stored apart, restricted', async () => {
    await page.getByRole('textbox', { name: 'Subjective' }).fill('Sleeping better; walking daily.');
    await page.getByRole('textbox', { name: 'Objective' }).fill('Bright affect, engaged.');
    await page.getByRole('textbox', { name: 'Assessment' }).fill('Depression close to remission.');
    await page.getByRole('textbox', { name: 'Plan' }).fill('Continue weekly sessions.\nRepeat PHQ-9 next visit.');
    await page.getByRole('textbox', { name: 'Psychotherapy notes (restricted)' }).fill('Themes of grief around her mother.');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.getByRole('status').filter({ hasText: 'Draft saved' }).waitFor();
    const [draft] = await search<Composition>(h, `Composition?encounter=Encounter/${visit.encounter.id}`);
    noteId = draft.id!;
    expect(draft.status).toBe('preliminary');
    expect(draft.section?.map((s) => s.code?.coding?.[0]?.code)).toEqual(['61150-9', '61149-1', '51848-0', '18776-5']);
    expect(JSON.stringify(draft)).not.toContain('grief');
    // The server linked the visit's scores in the Assessment, the app the care plan in the Plan.
    expect(draft.section?.[2].entry?.some((e) => e.reference?.startsWith('Observation/'))).toBe(true);
    expect(draft.section?.[3].entry?.some((e) => e.reference?.startsWith('CarePlan/'))).toBe(true);
    const [psychotherapy] = await search<DocumentReference>(h, `DocumentReference?related=Composition/${noteId}&type=http://bh-fhir.org/fhir/CodeSystem/note-section|psychotherapy-note`, 'system/DocumentReference.rs');
    expect(psychotherapy.meta?.security?.map((s) => s.code)).toEqual(['PSYTHPN', 'R']);
    await page.getByText('Scores of this visit linked to the Assessment by the server').waitFor();
    await screenshot(page, 'notes-draft');
    await noAxeProblems(page);
  });

  it('the clinician signs the note: the server has it final and signed', async () => {
    await page.getByRole('button', { name: 'Sign note' }).click();
    await page.getByRole('status').filter({ hasText: 'Signed' }).waitFor();
    const [note] = await search<Composition>(h, `Composition?_id=${noteId}`);
    expect(note.status).toBe('final');
    expect(note.attester?.find((a) => a.mode === 'legal')?.party?.reference).toBe(note.author?.[0]?.reference);
    await page.getByRole('button', { name: 'Add addendum' }).waitFor();
    await screenshot(page, 'notes-signed');
    await noAxeProblems(page);
  });

  it('the supervisor sees it in the countersign queue and countersigns', async () => {
    const sup = await openApp(h, okoye, 'notes', 'supervisor', { patientName: 'Martínez' });
    await sup.getByRole('tab', { name: 'Countersign queue' }).click();
    const item = sup.getByRole('article').filter({ has: sup.getByRole('heading', { name: /Progress note for Sofía Martínez/ }) });
    await item.waitFor();
    await item.getByText('Sleeping better; walking daily.').waitFor();
    await screenshot(sup, 'notes-countersign-queue');
    await noAxeProblems(sup);
    await item.getByRole('button', { name: 'Countersign' }).click();
    await sup.getByRole('status').filter({ hasText: 'Countersigned' }).waitFor();
    await expect.poll(() => item.count()).toBe(0);
    const [note] = await search<Composition>(h, `Composition?_id=${noteId}`);
    expect(note.attester?.filter((a) => a.mode === 'professional').length).toBe(1);
    await sup.close();
  });

  it('the clinician adds an addendum to the signed note', async () => {
    await page.getByRole('button', { name: 'Add addendum' }).click();
    await page.getByRole('combobox', { name: 'Adds to section' }).selectOption({ label: 'Plan' });
    await page.getByRole('textbox', { name: 'Addendum' }).fill('Patient called: next visit moved to Tuesday.');
    await page.getByRole('button', { name: 'Sign addendum' }).click();
    await page.getByRole('status').filter({ hasText: 'Addendum signed' }).waitFor();
    await page.getByText('Patient called: next visit moved to Tuesday.').waitFor();
    const addenda = await search<Composition>(h, `Composition?related-ref=Composition/${noteId}`);
    expect(addenda).toHaveLength(1);
    expect(addenda[0].relatesTo?.[0]).toMatchObject({ code: 'appends', targetReference: { reference: `Composition/${noteId}` } });
    expect(addenda[0].status).toBe('final');
    expect(addenda[0].section?.[0].code?.coding?.[0].code).toBe('18776-5');
    await screenshot(page, 'notes-addendum');
    await noAxeProblems(page);
  });

  it('the clinician assigns a PHQ-9: the Task exists for the patient', async () => {
    await page.getByRole('tab', { name: 'Assign instrument' }).click();
    const select = page.getByRole('combobox', { name: 'Instrument' });
    const phq9 = await select.locator('option', { hasText: /^PHQ-9 / }).getAttribute('value');
    expect(phq9).toBe('http://bh-fhir.org/fhir/Questionnaire/phq-9|1.0.0');
    await select.selectOption(phq9!);
    await page.getByRole('button', { name: 'Assign to patient' }).click();
    await page.getByRole('status').filter({ hasText: 'Assigned' }).waitFor();
    const tasks = await search<Task>(h, `Task?patient=Patient/${visit.patient.id}&code=http://hl7.org/fhir/uv/sdc/CodeSystem/temp|complete-questionnaire`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'requested', owner: { reference: `Patient/${visit.patient.id}` }, input: [{ valueCanonical: phq9 }] });
    await screenshot(page, 'notes-assign');
    await noAxeProblems(page);
  });

  it('the notes list and a phone-sized screen', async () => {
    await page.getByRole('tab', { name: 'All notes' }).click();
    await page.getByText('Patient called: next visit moved to Tuesday.').waitFor();
    await screenshot(page, 'notes-all');
    await noAxeProblems(page);
    await page.setViewportSize({ width: 360, height: 740 });
    await page.getByRole('tab', { name: 'This visit' }).click();
    await page.getByRole('table', { name: 'Scores since the last visit' }).waitFor();
    await screenshot(page, 'notes-phone');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await noAxeProblems(page);
  });
});

describe.sequential('notes when the session ends', () => {
  it('standalone launch: the clinician starts a visit, types, loses the session; after signing in again the text is still there', async () => {
    const context = await h.newContext();
    const p = await openApp(h, context, 'notes', 'clinician', { patientName: "O'Brien" });
    await p.getByRole('heading', { level: 1, name: /Session notes: James O'Brien/ }).waitFor();
    // No encounter in a standalone launch: pick one or start today's.
    await p.getByRole('heading', { name: 'Choose the visit' }).waitFor();
    await screenshot(p, 'notes-choose-visit');
    await noAxeProblems(p);
    await p.getByRole('button', { name: 'Start a new visit now' }).click();
    await p.getByText(/Psychotherapy session \(in progress\)/).waitFor();
    const [encounter] = await search<Encounter>(h, `Encounter?patient=Patient/${(await demoVisit(h, "O'Brien")).patient.id}&status=in-progress`);
    expect(encounter.participant?.[0]?.individual?.reference).toMatch(/^Practitioner\//);
    await p.getByRole('textbox', { name: 'Subjective' }).fill('Low mood this week; words typed before the session ended.');

    // The grant is revoked (as when a session ends): the app's token and refresh token stop working.
    const token = await p.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
      return (JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { access_token?: string } }).tokenResponse?.access_token ?? '';
    });
    const revoked = await fetch(`${h.baseUrl}/auth/revoke`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, client_id: 'notes' }) });
    expect(revoked.status).toBe(200);

    await p.getByRole('button', { name: 'Save draft' }).click();
    const ended = p.getByRole('alert').filter({ hasText: 'Your session has ended' });
    await ended.waitFor();
    await screenshot(p, 'notes-session-ended');
    await noAxeProblems(p);
    await ended.getByRole('button', { name: 'Sign in again' }).click();
    await p.waitForURL((u) => u.pathname.startsWith('/auth/'), { timeout: 15_000 });
    await signIn(p, 'clinician', { patientName: "O'Brien" });
    await p.waitForURL((u) => u.pathname.startsWith('/apps/notes/'), { timeout: 15_000 });
    await p.getByText('Unsaved text restored').waitFor();
    expect(await p.getByRole('textbox', { name: 'Subjective' }).inputValue()).toBe('Low mood this week; words typed before the session ended.');
    await p.getByRole('button', { name: 'Save draft' }).click();
    await p.getByRole('status').filter({ hasText: 'Draft saved' }).waitFor();
    const [draft] = await search<Composition>(h, `Composition?encounter=Encounter/${encounter.id}`);
    expect(draft.status).toBe('preliminary');
    expect(draft.section?.[0].text?.div).toContain('words typed before the session ended');

    // The same visit signed in a second tab: the first tab's next save is refused by the server
    // (a signed note is locked), in plain words, and what was typed stays on screen.
    const other = await openApp(h, context, 'notes', 'clinician', { patientName: "O'Brien" });
    await other.getByRole('textbox', { name: 'Subjective' }).waitFor();
    expect(await other.getByRole('textbox', { name: 'Subjective' }).inputValue()).toBe('Low mood this week; words typed before the session ended.');
    await other.getByRole('textbox', { name: 'Objective' }).fill('Tearful at times.');
    await other.getByRole('textbox', { name: 'Assessment' }).fill('Depression worsening.');
    await other.getByRole('textbox', { name: 'Plan' }).fill('Review medication with GP.');
    await other.getByRole('button', { name: 'Sign note' }).click();
    await other.getByRole('status').filter({ hasText: 'Signed' }).waitFor();
    await other.close();
    await p.getByRole('textbox', { name: 'Objective' }).fill('A late change from the first tab.');
    await p.getByRole('button', { name: 'Save draft' }).click();
    const refused = p.getByRole('alert').filter({ hasText: 'This note has been signed in the meantime' });
    await refused.waitFor();
    expect(await refused.textContent()).not.toMatch(/[{}]|resourceType|at \w+ \(/);
    expect(await p.getByRole('textbox', { name: 'Objective' }).inputValue()).toBe('A late change from the first tab.');
    await screenshot(p, 'notes-refused');
    await noAxeProblems(p);
    await context.close();
  });
});
