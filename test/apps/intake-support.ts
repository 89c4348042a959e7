import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { questionnaireTask } from '../../apps/shared/assignment.ts';
import type { AppsHarness } from './harness.ts';

/** Helpers for the intake browser tests: arrange demo-clinic data through the API, read results back. */
export const PHQ9 = 'http://bh-fhir.org/fhir/Questionnaire/phq-9|1.0.0';
export const GAD7 = 'http://bh-fhir.org/fhir/Questionnaire/gad-7|1.0.0';
export const PHQA = 'http://bh-fhir.org/fhir/Questionnaire/phq-a|1.0.0';

export async function api<T = Resource>(h: AppsHarness, path: string, init: { method?: string; json?: unknown; token?: string } = {}): Promise<T> {
  const res = await h.server.fhir(path, { method: init.method, json: init.json, token: init.token ?? (await h.systemToken()) });
  const body = await res.json();
  expect(res.status, `${init.method ?? 'GET'} ${path}: ${JSON.stringify(body)}`).toBeLessThan(300);
  return body as T;
}

export async function search<T extends Resource>(h: AppsHarness, query: string): Promise<T[]> {
  const b = await api<Bundle>(h, query);
  return (b.entry ?? []).map((e) => e.resource as T);
}

export async function idOf(h: AppsHarness, type: string, family: string): Promise<string> {
  const [r] = await search(h, `${type}?family=${family}&_count=1`);
  return r.id as string;
}

/** Dr. Rivera assigns an instrument with her own clinician token (as the notes and worklist apps do). */
export async function assignAsClinician(h: AppsHarness, rivera: string, patientId: string, questionnaire: string, note?: string): Promise<Task & { id: string }> {
  const token = await h.server.personToken({
    tenant: h.tenant,
    scope: 'user/*.rs user/Task.cu',
    fhirUser: `Practitioner/${rivera}`,
    userId: 'ana.rivera',
    roles: ['clinician'],
  });
  return api<Task & { id: string }>(h, 'Task', { method: 'POST', json: questionnaireTask({ patientId, questionnaire, requester: `Practitioner/${rivera}`, note }), token });
}

/** Chooses an answer of a question (a fieldset named by the question). */
export async function answer(page: Page, question: RegExp | string, option: string): Promise<void> {
  await page.getByRole('group', { name: question }).getByRole('radio', { name: option, exact: true }).check();
}

export async function checked(page: Page, question: RegExp | string, option: string): Promise<boolean> {
  return page.getByRole('group', { name: question }).getByRole('radio', { name: option, exact: true }).isChecked();
}

/** The page's width fits the viewport (nothing scrolls sideways). */
export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/**
 * Revokes the app's grant at the authorization server with its own refresh token (RFC 7009), as
 * a person revoking the app or an administrator ending the grant would: the next request gets a
 * 401 and the refresh fails, so the app's session has ended.
 */
export async function revokeAppGrant(page: Page, clientId: string): Promise<void> {
  const status = await page.evaluate(async (client) => {
    const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
    const state = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { refresh_token?: string } };
    const token = state.tokenResponse?.refresh_token;
    if (!token) return -1;
    const res = await fetch('/auth/revoke', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, client_id: client }) });
    return res.status;
  }, clientId);
  expect(status).toBe(200);
}
