import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { TENANT, buildClinic } from './clinic.ts';

/**
 * Writes are checked before the change (the current version must be visible and writable: 404
 * when outside the caller's reach, 403 when the type is not granted) and after it, in the same
 * transaction (the new version must still be within reach, so nobody creates for, or moves a
 * resource to, a patient they may not see; a failed check rolls the change back).
 */
let s: TestServer;
const tok: Record<string, string> = {};

beforeAll(async () => {
  s = await startTestServer();
  await buildClinic(s);
  const person = (fhirUser: string, roles: string[], scope: string, extra: Record<string, string> = {}) =>
    s.personToken({ tenant: TENANT, fhirUser, userId: fhirUser, roles: roles as never, scope, ...extra });
  tok.drA = await person('Practitioner/prac-a-x', ['clinician'], 'user/*.cruds', { purposeOfUse: 'TREAT' });
  tok.drARead = await person('Practitioner/prac-a-x', ['clinician'], 'user/*.rs');
  tok.desk = await person('Practitioner/prac-d-x', ['front-desk'], 'user/*.cruds');
  tok.admin = await person('Practitioner/prac-m-x', ['tenant-admin'], 'user/*.cruds');
  tok.patient = await person('Patient/pat-a1-x', ['patient'], 'patient/*.cruds', { patient: 'pat-a1-x' });
  tok.g1 = await person('RelatedPerson/rp-g1-x', ['related-person'], 'user/*.cruds');
  tok.system = await s.token('system/*.cruds', TENANT);
});
afterAll(async () => {
  await s?.close();
});

const obs = (patient: string, id?: string): Resource =>
  ({
    resourceType: 'Observation',
    ...(id ? { id } : {}),
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '44249-1' }] },
    subject: { reference: `Patient/${patient}` },
  }) as Resource;

async function write(token: string, method: string, path: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await s.fhir(path, { method, token, json });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function current(type: string, id: string): Promise<Record<string, unknown>> {
  return (await (await s.fhir(`${type}/${id}`, { token: tok.system })).json()) as Record<string, unknown>;
}

describe('clinician', () => {
  test('creates for a treated patient; not for another clinician\u2019s patient (403, nothing stored)', async () => {
    const ok = await write(tok.drA, 'POST', 'Observation', obs('pat-a1-x'));
    expect(ok.status).toBe(201);
    const denied = await write(tok.drA, 'POST', 'Observation', obs('pat-b1-x'));
    expect(denied.status).toBe(403);
    expect(denied.body.resourceType).toBe('OperationOutcome');
    const all = (await (await s.fhir('Observation?subject=Patient/pat-b1-x&_total=accurate', { token: tok.system })).json()) as { total: number };
    expect(all.total).toBe(1); // obs-b1-x only
  });

  test('cannot move an Observation to another patient (update and patch); the stored version is unchanged', async () => {
    const put = await write(tok.drA, 'PUT', 'Observation/obs-a2-x', obs('pat-b1-x', 'obs-a2-x'));
    expect(put.status).toBe(403);
    const patch = await s.fhir('Observation/obs-a2-x', {
      method: 'PATCH',
      token: tok.drA,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/subject/reference', value: 'Patient/pat-b1-x' }]),
    });
    expect(patch.status).toBe(403);
    const now = await current('Observation', 'obs-a2-x');
    expect((now.subject as { reference: string }).reference).toBe('Patient/pat-a2-x');
    expect((now.meta as { versionId: string }).versionId).toBe('1');
  });

  test('updates within reach; a resource outside reach is 404 for update, patch and delete', async () => {
    expect((await write(tok.drA, 'PUT', 'Observation/obs-a3-x', { ...obs('pat-a3-x', 'obs-a3-x'), status: 'amended' })).status).toBe(200);
    expect((await write(tok.drA, 'PUT', 'Observation/obs-b1-x', { ...obs('pat-b1-x', 'obs-b1-x'), status: 'amended' })).status).toBe(404);
    const patch = await s.fhir('Observation/obs-b1-x', {
      method: 'PATCH',
      token: tok.drA,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]),
    });
    expect(patch.status).toBe(404);
    expect((await write(tok.drA, 'DELETE', 'Observation/obs-b1-x')).status).toBe(404);
    expect((await current('Observation', 'obs-b1-x')).status).toBe('final');
  });

  test('deletes within reach', async () => {
    const created = await write(tok.drA, 'POST', 'Observation', obs('pat-a3-x'));
    expect((await write(tok.drA, 'DELETE', `Observation/${created.body.id}`)).status).toBe(200);
  });

  test('a read-only scope cannot write (403)', async () => {
    expect((await write(tok.drARead, 'POST', 'Observation', obs('pat-a1-x'))).status).toBe(403);
  });

  test('psychotherapy notes: may write one as its author, not in another author\u2019s name', async () => {
    const note = (author: string) => ({
      resourceType: 'DocumentReference',
      status: 'current',
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSYTHPN' }] },
      subject: { reference: 'Patient/pat-a1-x' },
      author: [{ reference: author }],
      content: [{ attachment: { contentType: 'text/plain', data: 'bm90ZQ==' } }],
    });
    expect((await write(tok.drA, 'POST', 'DocumentReference', note('Practitioner/prac-a-x'))).status).toBe(201);
    expect((await write(tok.drA, 'POST', 'DocumentReference', note('Practitioner/prac-b-x'))).status).toBe(403);
  });

  test('cannot grant themselves a patient by writing a CareTeam for someone they do not treat', async () => {
    const team = {
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: 'Patient/pat-n-x' },
      participant: [{ member: { reference: 'Practitioner/prac-a-x' } }],
    };
    expect((await write(tok.drA, 'POST', 'CareTeam', team)).status).toBe(403);
  });

  test('a transaction with one entry outside reach stores nothing', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6f1c6f4e-0000-4000-8000-000000000001', resource: { ...obs('pat-a1-x'), status: 'preliminary' }, request: { method: 'POST', url: 'Observation' } },
        { fullUrl: 'urn:uuid:6f1c6f4e-0000-4000-8000-000000000002', resource: { ...obs('pat-b2-x'), status: 'preliminary' }, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const r = await write(tok.drA, 'POST', '', bundle);
    expect(r.status).toBe(403);
    const after = (await (await s.fhir('Observation?status=preliminary&_total=accurate', { token: tok.system })).json()) as { total: number };
    expect(after.total).toBe(0);
  });

  test('a batch checks each entry on its own', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: obs('pat-a1-x'), request: { method: 'POST', url: 'Observation' } },
        { resource: obs('pat-b2-x'), request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'DELETE', url: 'Observation/obs-b2-x' } },
      ],
    };
    const r = await write(tok.drA, 'POST', '', bundle);
    expect(r.status).toBe(200);
    const statuses = (r.body.entry as { response: { status: string } }[]).map((e) => e.response.status.slice(0, 3));
    expect(statuses).toEqual(['201', '403', '404']);
  });
});

describe('front desk, admin, patient, guardian', () => {
  test('front desk books appointments but writes no clinical record', async () => {
    const appt = {
      resourceType: 'Appointment',
      status: 'booked',
      start: '2026-03-01T09:00:00Z',
      end: '2026-03-01T10:00:00Z',
      participant: [{ actor: { reference: 'Patient/pat-b1-x' }, status: 'accepted' }],
    };
    expect((await write(tok.desk, 'POST', 'Appointment', appt)).status).toBe(201);
    expect((await write(tok.desk, 'POST', 'Observation', obs('pat-b1-x'))).status).toBe(403);
    // A restricted label would put the resource out of the front desk's own reach.
    const labelled = { ...appt, meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } };
    expect((await write(tok.desk, 'POST', 'Appointment', labelled)).status).toBe(403);
  });

  test('tenant admin manages administrative resources; nobody writes AuditEvent', async () => {
    expect((await write(tok.admin, 'POST', 'Location', { resourceType: 'Location', name: 'Room 2' })).status).toBe(201);
    expect((await write(tok.admin, 'POST', 'Observation', obs('pat-a1-x'))).status).toBe(403);
    const event = { resourceType: 'AuditEvent', type: { code: 'rest' }, recorded: '2026-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'x' } } };
    expect((await write(tok.admin, 'POST', 'AuditEvent', event)).status).toBe(403);
    expect((await write(tok.admin, 'DELETE', 'AuditEvent/audit-x')).status).toBe(403);
  });

  test('a patient writes in their own compartment only', async () => {
    const qr = (patient: string) => ({ resourceType: 'QuestionnaireResponse', status: 'completed', subject: { reference: `Patient/${patient}` } });
    expect((await write(tok.patient, 'POST', 'QuestionnaireResponse', qr('pat-a1-x'))).status).toBe(201);
    expect((await write(tok.patient, 'POST', 'QuestionnaireResponse', qr('pat-a2-x'))).status).toBe(403);
    expect((await write(tok.patient, 'PUT', 'Observation/obs-a2-x', obs('pat-a1-x', 'obs-a2-x'))).status).toBe(404);
    expect((await write(tok.patient, 'DELETE', 'Observation/obs-a1-x')).status).toBe(200);
  });

  test('a guardian writes what the minor\u2019s Consent covers, nothing else', async () => {
    expect((await write(tok.g1, 'POST', 'Observation', obs('pat-m-x'))).status).toBe(201);
    const condition = { resourceType: 'Condition', subject: { reference: 'Patient/pat-m-x' }, code: { text: 'x' } };
    expect((await write(tok.g1, 'POST', 'Condition', condition)).status).toBe(403);
    expect((await write(tok.g1, 'POST', 'Observation', obs('pat-k-x'))).status).toBe(403);
  });
});
