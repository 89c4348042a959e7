import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { questionnaireTask } from '../../apps/shared/assignment.ts';
import { type AppsHarness, openApp, screenshot, seriousViolations, startAppsHarness } from './harness.ts';
import { OUTCOME_SYSTEM, messagesAbout, fhir, idOf, openRiskTasks, readTask, riskCard, submitPositivePhq9, worklistSubscriptions } from './worklist-support.ts';

/**
 * The clinician worklist in a real browser against a real server seeded with the demo clinic:
 * Dr. Rivera (clinician, on call) and Dr. Okoye (supervisor, clinic lead) sign in through the
 * real login, TOTP and consent pages. A positive PHQ-9 item 9 submitted through the FHIR API
 * reaches Rivera's open worklist over the websocket Subscription, without a reload; she accepts,
 * documents and closes it by clicking, and the server holds the outcome.
 */
let h: AppsHarness;
let rivera: { context: BrowserContext; page: Page };
let nguyen: string;
let okafor: string;

beforeAll(async () => {
  h = await startAppsHarness();
  nguyen = await idOf(h, 'Patient', 'Nguyen');
  okafor = await idOf(h, 'Patient', 'Okafor');
}, 300_000);
afterAll(async () => h?.close());

async function openWorklist(who: 'clinician' | 'supervisor', options: { phone?: boolean; beforeLaunch?: (c: BrowserContext) => Promise<void> } = {}) {
  const context = await h.newContext({ phone: options.phone });
  await options.beforeLaunch?.(context);
  const page = await openApp(h, context, 'worklist', who);
  await page.getByRole('heading', { level: 1, name: 'Worklist' }).waitFor();
  return { context, page };
}

describe('risk tasks', () => {
  it('the on-call clinician opens the worklist: live updates on, no open risk task, every section present', async () => {
    rivera = await openWorklist('clinician');
    const { page } = rivera;
    await page.getByText('Live updates on').waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByRole('region', { name: 'Risk tasks' }).getByText('No open risk tasks.').count()).toBe(1);
    await page.getByRole('region', { name: /Overdue assessments/ }).waitFor();
    await page.getByRole('region', { name: /My unsigned notes/ }).waitFor();
    await screenshot(page, 'worklist-rivera-empty');
    expect(await seriousViolations(page)).toEqual([]);
  }, 120_000);

  it('a positive PHQ-9 item 9 appears in her open worklist without reloading, announced, with deadline, answers and playbook', async () => {
    const { page } = rivera;
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await submitPositivePhq9(h, nguyen, 2);
    const [task] = await openRiskTasks(h, nguyen);
    expect(task.owner?.reference).toBe(`Practitioner/${await idOf(h, 'Practitioner', 'Rivera')}`);

    const card = riskCard(page, 'Linh Nguyen');
    await card.waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'New risk task: Linh Nguyen, priority urgent' }).count()).toBe(1);
    await expect.poll(() => card.textContent()).toContain('Priority: Urgent');
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('Owner: Dr. Ana Rivera (you)');
    expect(text).toMatch(/Acknowledge by .+ \(in (60|59|58) minutes\)/);
    // The triggering answer as the server recorded it (item 9 answered "More than half the days"), and the rule's playbook.
    expect(text).toMatch(/Triggering answers.*better off dead.*More than half the days/s);
    expect(text).toContain('Playbook');
    await screenshot(page, 'worklist-rivera-new-risk-task');
    expect(await seriousViolations(page)).toEqual([]);
  }, 120_000);

  it('she accepts, documents the outcome and closes it by keyboard and clicks; the server has the Task completed with the outcome', async () => {
    const { page } = rivera;
    const card = riskCard(page, 'Linh Nguyen');
    await card.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => card.textContent()).toContain('Accepted');
    const [acceptedTask] = await openRiskTasks(h, nguyen);
    expect(acceptedTask.status).toBe('accepted');

    await card.getByRole('button', { name: 'Document outcome' }).click();
    // Closing with nothing filled in: told what is missing, next to each field; nothing is sent.
    await card.getByRole('button', { name: 'Close task' }).click();
    await card.getByText('Choose the outcome.').waitFor();
    await card.getByText('Say what was done.').waitFor();
    expect((await openRiskTasks(h, nguyen))[0].status).toBe('accepted');

    await card.getByRole('radio', { name: 'Contact made; safety plan completed or updated' }).check();
    await card.getByLabel('What was done').fill('Called 14:05; no plan or intent; Stanley-Brown safety plan completed; follow-up tomorrow.');
    await screenshot(page, 'worklist-rivera-outcome-form');
    expect(await seriousViolations(page)).toEqual([]);
    await card.getByLabel('What was done').focus();
    await page.keyboard.press('Tab'); // Save outcome
    await page.keyboard.press('Tab'); // Close task
    await page.keyboard.press('Enter');

    await expect.poll(() => page.getByRole('region', { name: 'Risk tasks' }).getByText('No open risk tasks.').count(), { timeout: 10_000 }).toBe(1);
    await page.getByText('Closed the risk task for Linh Nguyen.').first().waitFor();
    const closed = await readTask(h, acceptedTask.id as string);
    expect(closed.status).toBe('completed');
    expect(closed.statusReason?.coding?.[0]).toMatchObject({ system: OUTCOME_SYSTEM, code: 'contact-made-safety-plan' });
    expect(closed.output).toEqual([
      expect.objectContaining({
        type: { coding: [expect.objectContaining({ system: OUTCOME_SYSTEM, code: 'contact-made-safety-plan' })] },
        valueString: 'Called 14:05; no plan or intent; Stanley-Brown safety plan completed; follow-up tomorrow.',
      }),
    ]);
    await screenshot(page, 'worklist-rivera-closed');
    expect(await seriousViolations(page)).toEqual([]);
  }, 120_000);

  it('she escalates a second one to the supervisor: handed over with a note and a message, and it arrives live in the supervisor\'s worklist', async () => {
    const okoye = await openWorklist('supervisor');
    await okoye.page.getByText('Live updates on').waitFor({ timeout: 20_000 });
    await submitPositivePhq9(h, okafor, 1);
    const { page } = rivera;
    const card = riskCard(page, 'Chidi Okafor');
    await card.waitFor({ timeout: 15_000 });
    // The supervisor sees the clinic's risk tasks too (owner Dr. Rivera).
    await riskCard(okoye.page, 'Chidi Okafor').getByText('Owner: Dr. Ana Rivera').waitFor({ timeout: 15_000 });

    await card.getByRole('button', { name: 'Escalate' }).click();
    const escalateTo = card.getByLabel('Escalate to');
    await expect.poll(() => escalateTo.inputValue()).toBe('Dr. Priya Shah: Backup on call'); // the next rung
    await escalateTo.click();
    await page.getByRole('option', { name: 'Dr. Sam Okoye: Supervisor' }).click();
    await card.getByLabel('Reason for escalating').fill('Patient not answering; needs a senior decision on an emergency referral.');
    expect(await seriousViolations(page)).toEqual([]);
    await card.getByRole('button', { name: 'Escalate now' }).click();
    await page.getByText('Escalated the risk task for Chidi Okafor to Dr. Sam Okoye (supervisor).').first().waitFor();

    const [task] = await openRiskTasks(h, okafor);
    const okoyeId = await idOf(h, 'Practitioner', 'Okoye');
    expect(task.owner?.reference).toBe(`Practitioner/${okoyeId}`);
    expect(task.status).toBe('requested');
    expect(task.businessStatus?.coding?.[0]?.code).toBe('supervisor');
    expect(task.note?.at(-1)?.text).toContain('needs a senior decision');
    const messages = await messagesAbout(h, `Practitioner/${okoyeId}`, task.id as string);
    expect(messages.map((m) => [m.category?.[0]?.coding?.[0]?.code, m.payload?.[0]?.contentString])).toEqual([
      ['risk-escalation', expect.stringContaining('needs a senior decision')],
    ]);
    // A staff message: restricted, so the patient's own apps never show it.
    expect(messages[0].meta?.security).toEqual([expect.objectContaining({ code: 'R' })]);

    await riskCard(okoye.page, 'Chidi Okafor').getByText('Owner: Dr. Sam Okoye (you)').waitFor({ timeout: 15_000 });
    await screenshot(okoye.page, 'worklist-okoye-escalated');
    expect(await seriousViolations(okoye.page)).toEqual([]);
    await okoye.context.close();
  }, 180_000);
});

describe('the rest of the worklist', () => {
  it('the supervisor sees the notes waiting for countersignature (signed by others, not yet countersigned)', async () => {
    const { context, page } = await openWorklist('supervisor');
    const region = page.getByRole('region', { name: /Notes waiting for your countersignature/ });
    await region.getByRole('listitem').first().waitFor({ timeout: 20_000 });
    // Seeded: notes of Nguyen, Okafor (Dr. Rivera) and Weber (Dr. Shah) signed; Rahman's countersigned already.
    // Names of patients and signers are read after the list appears: wait until they are all there.
    const listed = (who: string, signer: string) => async () =>
      (await region.getByRole('listitem').allTextContents()).some((t) => t.includes(who) && t.includes(`signed by ${signer}`));
    await expect.poll(listed('Daniel Weber', 'Dr. Priya Shah'), { timeout: 15_000 }).toBe(true);
    await expect.poll(listed('Linh Nguyen', 'Dr. Ana Rivera'), { timeout: 15_000 }).toBe(true);
    const items = await region.getByRole('listitem').allTextContents();
    expect(items.some((t) => t.includes('Aisha Rahman'))).toBe(false);
    await screenshot(page, 'worklist-okoye-countersign');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  }, 120_000);

  it('an assessment assigned to a patient and not completed by its due date is listed as overdue; a clinician has no countersign queue', async () => {
    const riveraId = await idOf(h, 'Practitioner', 'Rivera');
    const due = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const assignment = questionnaireTask({ patientId: nguyen, questionnaire: 'http://bh-fhir.org/fhir/Questionnaire/gad-7|1.0.0', requester: `Practitioner/${riveraId}`, due });
    const created = await fhir(h, 'Task', { method: 'POST', json: assignment });
    expect(created.status).toBe(201);
    const { context, page } = await openWorklist('clinician');
    const region = page.getByRole('region', { name: /Overdue assessments/ });
    await region.getByRole('listitem').filter({ hasText: 'Linh Nguyen' }).filter({ hasText: 'GAD-7' }).waitFor({ timeout: 20_000 });
    expect(await page.getByRole('region', { name: /countersignature/ }).count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  }, 120_000);

  it('on a 360-px phone the worklist is usable and accessible', async () => {
    const { context, page } = await openWorklist('clinician', { phone: true });
    await page.getByText('Live updates on').waitFor({ timeout: 20_000 });
    // Escalated to the supervisor, still visible to her (she treats the patient), now in his hands.
    await riskCard(page, 'Chidi Okafor').getByText('Owner: Dr. Sam Okoye').waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await screenshot(page, 'worklist-phone');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  }, 120_000);
});

describe('live updates', () => {
  it('when the socket cannot connect the page says live updates are off and still finds a new risk task by polling', async () => {
    const { context, page } = await openWorklist('clinician', {
      beforeLaunch: (c) => c.routeWebSocket(/\/ws\/subscriptions/, (ws) => ws.close({ code: 1011, reason: 'test: no websocket' })),
    });
    await page.getByText('Live updates are off').waitFor({ timeout: 20_000 });
    await page.getByText(/checks for new risk tasks every 30 seconds/).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'worklist-live-off');
    const lindqvist = await idOf(h, 'Patient', 'Lindqvist');
    await submitPositivePhq9(h, lindqvist, 1);
    const card = riskCard(page, 'Maja Lindqvist');
    await card.waitFor({ timeout: 45_000 });

    // The Task changes on the server after the page read it (the next poll is 30 s away): accepting
    // the stale copy is refused in plain words, the card reloads, and accepting again works.
    const [task] = await openRiskTasks(h, lindqvist);
    const changed = await fhir(h, `Task/${task.id}`, { method: 'PUT', json: { ...task, note: [...(task.note ?? []), { text: 'Front desk: patient called back, available after 3 pm.' }] } });
    expect(changed.status).toBe(200);
    await card.getByRole('button', { name: 'Accept' }).click();
    await card.getByRole('alert').filter({ hasText: 'This task changed while you had it open' }).waitFor();
    expect((await readTask(h, task.id as string)).status).toBe('requested');
    expect(await seriousViolations(page)).toEqual([]);
    await expect.poll(() => card.getByText(/History \(2\)/).count(), { timeout: 10_000 }).toBe(1); // reloaded: the new note is there
    await card.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => card.textContent()).toContain('Accepted');
    expect((await readTask(h, task.id as string)).status).toBe('accepted');
    await context.close();
  }, 120_000);

  it('one worklist Subscription per person, reused across launches (not one per launch)', async () => {
    await rivera.context.close();
    const subs = await worklistSubscriptions(h);
    // Dr. Rivera launched four times and Dr. Okoye twice.
    const owners = subs.map((s) => s.meta?.tag?.find((t) => t.system === 'http://bh-fhir.org/fhir/CodeSystem/subscription-owner')?.code);
    expect(subs).toHaveLength(2);
    expect(new Set(owners).size).toBe(2);
    expect(subs.every((s) => s.channel?.type === 'websocket' && s.status === 'active')).toBe(true);
  });
});
