import type { QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { questionnaireTask } from '../../apps/shared/assignment.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { responseFor } from './instruments-fixtures.ts';
import { type Clinic, clinic, patient, phq9, search } from './risk-support.ts';

/**
 * Assignments (clinical/assignments): a clinician assigns an instrument as an SDC questionnaire
 * Task (the shape apps/shared/assignment.ts builds); the patient's answers move it along in the
 * response's own transaction: in-progress when a draft is saved, completed with the response as
 * output when the completed response is saved. The patient needs no Task write right for that.
 */
const PHQ9 = 'http://bh-fhir.org/fhir/Questionnaire/phq-9|1.0.0';
const GAD7 = 'http://bh-fhir.org/fhir/Questionnaire/gad-7|1.0.0';

let s: TestServer;
let c: Clinic;
beforeAll(async () => {
  s = await startTestServer({ RISK_POLL_MS: '0' });
  c = await clinic(s, 'assign');
}, 60_000);
afterAll(async () => {
  await s?.close();
});

/** The treating clinician (Dr. Lee, on the patient's care team) assigns with their own token. */
async function assign(patientId: string, questionnaire: string, authoredOn?: string): Promise<Task & { id: string }> {
  const token = await s.personToken({ tenant: c.tenant, scope: 'user/*.rs user/Task.cu', fhirUser: `Practitioner/${c.lee}`, userId: 'u-lee', roles: ['clinician'] });
  const task = { ...questionnaireTask({ patientId, questionnaire, requester: `Practitioner/${c.lee}` }), ...(authoredOn ? { authoredOn } : {}) };
  const res = await s.fhir('Task', { method: 'POST', json: task, token });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

/** The patient's own token, as the intake app gets it (patient/ scopes, no Task write). */
function patientToken(patientId: string): Promise<string> {
  return s.personToken({
    tenant: c.tenant,
    scope: 'patient/*.rs patient/QuestionnaireResponse.cu',
    fhirUser: `Patient/${patientId}`,
    userId: `u-${patientId}`,
    roles: ['patient'],
    patient: patientId,
  });
}

async function write(response: QuestionnaireResponse, token: string): Promise<{ status: number; body: QuestionnaireResponse & { id: string } }> {
  const res = await s.fhir(response.id ? `QuestionnaireResponse/${response.id}` : 'QuestionnaireResponse', { method: response.id ? 'PUT' : 'POST', json: response, token });
  return { status: res.status, body: await res.json() };
}

const read = async (id: string): Promise<Task> => (await (await s.fhir(`Task/${id}`, { token: await s.token('system/*.cruds', c.tenant) })).json()) as Task;

describe('a PHQ-9 assigned to a patient', () => {
  let p: string;
  let task: Task & { id: string };
  let token: string;
  let draftId: string;
  beforeAll(async () => {
    p = await patient(s, c);
    task = await assign(p, PHQ9);
    token = await patientToken(p);
  });

  test('the patient sees the assignment in their compartment', async () => {
    const open = await search<Task>(s, c.tenant, `Task?code=http://hl7.org/fhir/uv/sdc/CodeSystem/temp|complete-questionnaire&patient=Patient/${p}&status=requested,in-progress`, token);
    expect(open.map((t) => t.id)).toEqual([task.id]);
  });

  test('saving a draft marks it in-progress', async () => {
    const draft = { ...phq9(p, 0), status: 'in-progress' as const, source: { reference: `Patient/${p}` } };
    draft.item = draft.item?.slice(0, 3);
    const saved = await write(draft, token);
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    draftId = saved.body.id;
    expect(await read(task.id)).toMatchObject({ status: 'in-progress' });
    expect((await read(task.id)).output).toBeUndefined();
  });

  test('a refused completion leaves the assignment as it was', async () => {
    const incomplete = { ...phq9(p, 0), id: draftId, source: { reference: `Patient/${p}` } };
    incomplete.item = incomplete.item?.slice(0, 5);
    const refused = await write(incomplete, token);
    expect(refused.status).toBe(400);
    expect(await read(task.id)).toMatchObject({ status: 'in-progress' });
  });

  test('completing the response completes the assignment with the response as output, in the same write', async () => {
    const done = await write({ ...phq9(p, 0), id: draftId, source: { reference: `Patient/${p}` } }, token);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const after = await read(task.id);
    expect(after).toMatchObject({
      status: 'completed',
      output: [{ type: { coding: [{ system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp', code: 'response' }] }, valueReference: { reference: `QuestionnaireResponse/${draftId}` } }],
    });
    // The patient sees it closed; the open list is empty.
    const open = await search<Task>(s, c.tenant, `Task?code=http://hl7.org/fhir/uv/sdc/CodeSystem/temp|complete-questionnaire&patient=Patient/${p}&status=requested,in-progress`, token);
    expect(open).toEqual([]);
  });

  test('the patient cannot write the Task themselves', async () => {
    const res = await s.fhir(`Task/${task.id}`, { method: 'PUT', json: { ...(await read(task.id)), status: 'cancelled' }, token });
    expect(res.status).toBe(403);
  });
});

describe('which assignment a response completes', () => {
  test('only an open assignment of the same questionnaire and patient, the oldest first', async () => {
    const p = await patient(s, c);
    const other = await patient(s, c);
    const older = await assign(p, PHQ9, '2026-11-01T09:00:00Z');
    const newer = await assign(p, PHQ9, '2026-11-10T09:00:00Z');
    const gad = await assign(p, GAD7);
    const othersTask = await assign(other, PHQ9);

    const first = await write({ ...phq9(p, 0), source: { reference: `Patient/${p}` } }, await patientToken(p));
    expect(first.status).toBe(201);
    expect((await read(older.id)).status).toBe('completed');
    expect((await read(newer.id)).status).toBe('requested');
    expect((await read(gad.id)).status).toBe('requested');
    expect((await read(othersTask.id)).status).toBe('requested');

    // An amendment of a completed response completes nothing more.
    const amended = await write({ ...first.body, status: 'amended' }, await s.token('system/*.cruds', c.tenant));
    expect(amended.status, JSON.stringify(amended.body)).toBe(200);
    expect((await read(newer.id)).status).toBe('requested');

    const gadResponse = await write({ ...responseFor('gad-7', [0, 0, 0, 0, 0, 0, 0], { subject: { reference: `Patient/${p}` } }) }, await patientToken(p));
    expect(gadResponse.status).toBe(201);
    expect(await read(gad.id)).toMatchObject({ status: 'completed', output: [{ valueReference: { reference: `QuestionnaireResponse/${gadResponse.body.id}` } }] });
  });

  test('a cancelled assignment stays cancelled', async () => {
    const p = await patient(s, c);
    const task = await assign(p, PHQ9);
    const cancelled = await s.fhir(`Task/${task.id}`, { method: 'PUT', json: { ...task, status: 'cancelled' }, token: await s.token('system/*.cruds', c.tenant) });
    expect(cancelled.status).toBe(200);
    const res = await write({ ...phq9(p, 0) }, await patientToken(p));
    expect(res.status).toBe(201);
    expect((await read(task.id)).status).toBe('cancelled');
  });
});
