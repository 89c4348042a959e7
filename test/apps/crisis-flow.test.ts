import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Questionnaire, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { questionnaireTask } from '../../apps/shared/assignment.ts';
import { type AppsHarness, openApp, screenshot, startAppsHarness } from './harness.ts';
import { PHQ9, answer, api, idOf } from './intake-support.ts';
import { openRiskTasks, readTask, riskCard } from './worklist-support.ts';

/**
 * The crisis loop across apps, as people do it, on the demo clinic: the patient answers PHQ-9
 * item 9 positively in intake and sees crisis resources at once; the on-call clinician, whose
 * worklist is open, sees the risk Task arrive without reloading, accepts it, documents the
 * outcome and closes it. Only the assignment is arranged through the API.
 */
const phq9 = JSON.parse(readFileSync(join(import.meta.dirname, '../../questionnaires/phq-9.json'), 'utf8')) as Questionnaire;
const question = (text: string | undefined) => new RegExp(`^\\d+\\. ${(text ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

let h: AppsHarness;
beforeAll(async () => {
  h = await startAppsHarness();
}, 300_000);
afterAll(async () => h?.close());

it('patient answers item 9 positively → crisis resources at once → the risk Task reaches the on-call clinician live → accepted, documented, closed', async () => {
  const linh = await idOf(h, 'Patient', 'Nguyen');
  const rivera = await idOf(h, 'Practitioner', 'Rivera');
  await api<Task>(h, 'Task', { method: 'POST', json: questionnaireTask({ patientId: linh, questionnaire: PHQ9, requester: `Practitioner/${rivera}` }) });

  // The on-call clinician's worklist is open before anything happens.
  const clinicianContext = await h.newContext();
  const worklist = await openApp(h, clinicianContext, 'worklist', 'clinician');
  await worklist.getByText('Live updates on').waitFor({ timeout: 20_000 });
  await worklist.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

  // The patient fills the PHQ-9 on her phone: every item, item 9 "Several days".
  const patientContext = await h.newContext({ phone: true });
  const intake = await openApp(h, patientContext, 'intake', 'patient');
  await intake.getByRole('button', { name: /^Start PHQ-9/ }).click();
  const items = (phq9.item ?? []).filter((i) => i.required);
  expect(items).toHaveLength(9);
  for (const item of items.slice(0, 8)) await answer(intake, question(item.text), 'Not at all');
  await answer(intake, question(items[8].text), 'Several days');
  await intake.getByRole('button', { name: 'Submit' }).click();
  const crisis = intake.getByRole('alert', { name: /Help now/ });
  await crisis.waitFor();
  await expect(crisis.getByRole('link', { name: 'Call 988' }).getAttribute('href')).resolves.toBe('tel:988');
  await screenshot(intake, 'crisis-flow-patient');

  // The server raised one risk Task, owned by the clinician on call.
  const [task] = await openRiskTasks(h, linh);
  expect(task.owner?.reference).toBe(`Practitioner/${rivera}`);

  // It is in her open worklist, without a reload.
  const card = riskCard(worklist, 'Linh Nguyen');
  await card.waitFor({ timeout: 15_000 });
  expect(await worklist.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  await card.getByRole('button', { name: 'Accept' }).click();
  await expect.poll(() => card.textContent()).toContain('Accepted');
  await card.getByRole('button', { name: 'Document outcome' }).click();
  await card.getByRole('radio', { name: 'Contact made; safety plan completed or updated' }).check();
  await card.getByLabel('What was done').fill('Called the patient; no plan or intent; safety plan reviewed; appointment tomorrow.');
  await card.getByRole('button', { name: 'Close task' }).click();
  await worklist.getByText('Closed the risk task for Linh Nguyen.').first().waitFor();
  await screenshot(worklist, 'crisis-flow-clinician');

  const closed = await readTask(h, task.id as string);
  expect(closed.status).toBe('completed');
  expect(await openRiskTasks(h, linh)).toHaveLength(0);
  await patientContext.close();
  await clinicianContext.close();
}, 180_000);
