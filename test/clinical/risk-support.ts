import type { Bundle, Communication, Flag, PractitionerRole, Resource, Task } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { TestServer } from '../support/server.ts';
import { codingFor, def, responseFor } from './instruments-fixtures.ts';

/** Shared by the risk tests: a clinic with a rota, positive screens, and lookups of what they raised. */
export const ON_CALL = 'http://bh-fhir.org/fhir/CodeSystem/on-call-role';
export const RISK_TASK = 'http://bh-fhir.org/fhir/CodeSystem/risk-task|suicide-risk-follow-up';
export const CRISIS = 'http://bh-fhir.org/fhir/CodeSystem/communication-category|crisis-resources';
export const OUTCOME = 'http://bh-fhir.org/fhir/CodeSystem/risk-outcome';
export const MIN = 60_000;

export interface Clinic {
  tenant: string;
  rivera: string;
  shah: string;
  okoye: string;
  /** A treating clinician who is not on the rota. */
  lee: string;
}

export async function create<T extends Resource>(s: TestServer, tenant: string, resource: T): Promise<T & { id: string }> {
  const res = await s.fhir(resource.resourceType, { method: 'POST', json: resource, token: await s.token('system/*.cruds', tenant) });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

export async function search<T extends Resource>(s: TestServer, tenant: string, query: string, token?: string): Promise<T[]> {
  const res = await s.fhir(query, { token: token ?? (await s.token('system/*.cruds', tenant)) });
  const body = (await res.json()) as Bundle;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return (body.entry ?? []).map((e) => e.resource as T);
}

/** Dr. Rivera on call, Dr. Shah backup, Dr. Okoye supervisor and clinic lead, all day every day (UTC). */
export async function clinic(s: TestServer, tenant: string, opts: { rota?: boolean } = {}): Promise<Clinic> {
  await s.ensureTenant(tenant);
  const doc = async (family: string) => (await create(s, tenant, { resourceType: 'Practitioner', name: [{ family, prefix: ['Dr.'] }] })).id;
  const c = { tenant, rivera: await doc('Rivera'), shah: await doc('Shah'), okoye: await doc('Okoye'), lee: await doc('Lee') };
  if (opts.rota !== false) {
    const role = (who: string, codes: string[], available = true): PractitionerRole => ({
      resourceType: 'PractitionerRole',
      active: true,
      practitioner: { reference: `Practitioner/${who}` },
      code: codes.map((code) => ({ coding: [{ system: ON_CALL, code }] })),
      ...(available ? { availableTime: [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], allDay: true }] } : {}),
    });
    await create(s, tenant, role(c.rivera, ['on-call']));
    await create(s, tenant, role(c.shah, ['on-call-backup']));
    await create(s, tenant, role(c.okoye, ['supervisor', 'clinic-lead'], false));
  }
  return c;
}

/** A patient treated by Dr. Lee (active CareTeam). */
export async function patient(s: TestServer, c: Clinic): Promise<string> {
  const p = await create(s, c.tenant, { resourceType: 'Patient', name: [{ family: 'Screened' }] });
  await create(s, c.tenant, { resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${p.id}` }, participant: [{ member: { reference: `Practitioner/${c.lee}` } }] });
  return p.id;
}

/** A PHQ-9 with item 9 (44260-8) scored `item9` and the other items adding up to `rest`. */
export function phq9(patientId: string, item9: number, rest = 6) {
  const scores = [Math.min(rest, 3), Math.min(Math.max(rest - 3, 0), 3), Math.min(Math.max(rest - 6, 0), 3), Math.min(Math.max(rest - 9, 0), 3), 0, 0, 0, 0, item9];
  return responseFor('phq-9', scores, { subject: { reference: `Patient/${patientId}` } });
}

export function asqAcute(patientId: string) {
  const asq = def('asq');
  return responseFor('asq', [1, 0, 0, 0], {
    subject: { reference: `Patient/${patientId}` },
    items: [{ linkId: 'asq-5', answer: [{ valueCoding: codingFor(asq, 'asq-5', 1) }] }],
  });
}

export async function submit(s: TestServer, tenant: string, response: Resource, token?: string): Promise<string> {
  const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: response, token: token ?? (await s.token('system/*.cruds', tenant)) });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.id;
}

export const riskTasks = (s: TestServer, tenant: string, patientId: string, token?: string) => search<Task>(s, tenant, `Task?subject=Patient/${patientId}&code=${RISK_TASK}`, token);
export const flags = (s: TestServer, tenant: string, patientId: string, token?: string) => search<Flag>(s, tenant, `Flag?patient=Patient/${patientId}`, token);
export const crisisMessages = (s: TestServer, tenant: string, responseId: string, token?: string) =>
  search<Communication>(s, tenant, `Communication?based-on=QuestionnaireResponse/${responseId}&category=${CRISIS}`, token);

export function clinician(s: TestServer, c: Clinic, who: string, roles: ('clinician' | 'supervisor')[] = ['clinician']): Promise<string> {
  return s.personToken({ tenant: c.tenant, scope: 'user/*.cruds', fhirUser: `Practitioner/${who}`, userId: `u-${who}`, roles });
}

export async function timers(s: TestServer, tenant: string): Promise<{ task_id: string; step: number; due_at: string }[]> {
  const { rows } = await s.db.query<{ task_id: string; step: number; due_at: string }>(
    'SELECT task_id, step, due_at::text FROM risk_timer WHERE tenant = $1 ORDER BY task_id',
    [tenant]
  );
  return rows;
}
