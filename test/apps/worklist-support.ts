import type { Bundle, Communication, Resource, Subscription, Task } from '@medplum/fhirtypes';
import type { Locator, Page } from 'playwright-core';
import { phq9 } from '../clinical/risk-support.ts';
import type { AppsHarness } from './harness.ts';

/**
 * Arranging and checking the worklist's data through the FHIR API with the demo clinic's system
 * token (the intake app is another piece of work: the positive screen is submitted here, as a
 * patient's app would, and the server raises the risk Task in the same transaction).
 */
export const RISK_TASK = 'http://bh-fhir.org/fhir/CodeSystem/risk-task|suicide-risk-follow-up';
export const OUTCOME_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/risk-outcome';
export const LIVE_REASON = 'Worklist: live updates of risk follow-up Tasks';

export async function fhir<T = Resource>(h: AppsHarness, path: string, init: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: T }> {
  const res = await h.server.fhir(path, { method: init.method, json: init.json, token: await h.systemToken() });
  return { status: res.status, body: (await res.json()) as T };
}

export async function search<T extends Resource>(h: AppsHarness, query: string): Promise<T[]> {
  const { status, body } = await fhir<Bundle>(h, query);
  if (status !== 200) throw new Error(`${query}: ${status} ${JSON.stringify(body)}`);
  return (body.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as T);
}

export async function idOf(h: AppsHarness, type: 'Patient' | 'Practitioner', family: string): Promise<string> {
  const [r] = await search(h, `${type}?family=${encodeURIComponent(family)}`);
  if (!r?.id) throw new Error(`no ${type} ${family}`);
  return r.id;
}

/** A completed PHQ-9 with item 9 ("thoughts that you would be better off dead…") answered `item9` (1–3). */
export async function submitPositivePhq9(h: AppsHarness, patientId: string, item9 = 2): Promise<string> {
  const response = { ...phq9(patientId, item9), authored: new Date().toISOString(), author: { reference: `Patient/${patientId}` }, source: { reference: `Patient/${patientId}` } };
  const { status, body } = await fhir<Resource>(h, 'QuestionnaireResponse', { method: 'POST', json: response });
  if (status !== 201) throw new Error(`PHQ-9 not accepted: ${status} ${JSON.stringify(body)}`);
  return body.id as string;
}

export async function openRiskTasks(h: AppsHarness, patientId: string): Promise<Task[]> {
  return search<Task>(h, `Task?code=${encodeURIComponent(RISK_TASK)}&patient=Patient/${patientId}&status=requested,received,ready,accepted,in-progress`);
}

export async function readTask(h: AppsHarness, id: string): Promise<Task> {
  return (await fhir<Task>(h, `Task/${id}`)).body;
}

/**
 * Staff messages to a practitioner about a Task (R4 has no `about` search parameter: filtered
 * here). Read with a scope naming Communication: restricted (R) records are invisible to `system/*`.
 */
export async function messagesAbout(h: AppsHarness, recipient: string, taskId: string): Promise<Communication[]> {
  const res = await h.server.fhir(`Communication?recipient=${recipient}&_count=200`, { token: await h.server.token('system/Communication.rs', h.tenant) });
  const body = (await res.json()) as Bundle;
  if (res.status !== 200) throw new Error(`Communication search: ${res.status} ${JSON.stringify(body)}`);
  return (body.entry ?? []).map((e) => e.resource as Communication).filter((c) => c.about?.some((a) => a.reference === `Task/${taskId}`));
}

export async function worklistSubscriptions(h: AppsHarness): Promise<Subscription[]> {
  return (await search<Subscription>(h, 'Subscription?_count=200')).filter((s) => s.reason === LIVE_REASON);
}

/** The card of a patient's risk Task inside the "Risk tasks" region. */
export function riskCard(page: Page, patientName: string): Locator {
  return page.getByRole('region', { name: 'Risk tasks' }).getByRole('article', { name: patientName });
}
