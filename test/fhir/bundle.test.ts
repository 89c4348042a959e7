import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// batch and transaction (https://hl7.org/fhir/R4/http.html#transaction).
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const post = (body: unknown) => s.fhir('', { method: 'POST', json: body });
const count = async (q: string) => (await (await s.fhir(`${q}${q.includes('?') ? '&' : '?'}_total=accurate&_count=0`)).json()).total;

describe('transaction', () => {
  test('creates everything, rewriting urn:uuid references to the assigned ids', async () => {
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(res.status).toBe(200);
    const b = await res.json();
    expect(b.type).toBe('transaction-response');
    expect(b.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201', '201']);
    const patientId = b.entry[0].resource.id;
    expect(b.entry[1].resource.subject.reference).toBe(`Patient/${patientId}`);
    const obs = await (await s.fhir(`Observation/${b.entry[1].resource.id}`)).json();
    expect(obs.subject.reference).toBe(`Patient/${patientId}`);
  });

  test('is all or nothing: one invalid entry rolls back every entry', async () => {
    const before = await count('Patient?family=Atomic');
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', name: [{ family: 'Atomic' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', name: [{ family: 'Atomic' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', birthDate: 'not-a-date' }, request: { method: 'POST', url: 'Patient' } },
      ],
    });
    expect(res.status).toBe(400);
    expect((await res.json()).resourceType).toBe('OperationOutcome');
    expect(await count('Patient?family=Atomic')).toBe(before);
  });

  test('resolves conditional references; a reference matching nothing fails the bundle', async () => {
    await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CR-1' }] } });
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?identifier=urn:mrn|CR-1' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(res.status).toBe(200);
    const obs = (await res.json()).entry[0].resource;
    expect(obs.subject.reference).toMatch(/^Patient\/[A-Za-z0-9-]+$/);
    const bad = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?identifier=urn:mrn|NOPE' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(bad.status).toBe(404);
    expect((await bad.json()).issue[0].diagnostics).toContain('Patient?identifier=urn:mrn|NOPE');
  });

  test('conditional create inside a transaction (ifNoneExist) reuses the match', async () => {
    const body = (v: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Organization', name: 'Clinic', identifier: [{ system: 'urn:org', value: v }] },
          request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=urn:org|${v}` },
        },
      ],
    });
    const a = await (await post(body('O-1'))).json();
    const b = await (await post(body('O-1'))).json();
    expect(b.entry[0].response.status).toBe('200');
    expect(b.entry[0].resource.id).toBe(a.entry[0].resource.id);
  });
});

describe('batch', () => {
  test('entries succeed or fail independently', async () => {
    const res = await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/nope' } },
        { resource: { resourceType: 'Patient', birthDate: 'bad' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient?_count=1' } },
      ],
    });
    expect(res.status).toBe(200);
    const b = await res.json();
    expect(b.type).toBe('batch-response');
    expect(b.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201', '404', '400', '200']);
  });

  test('a bundle of another type is refused', async () => {
    const res = await post({ resourceType: 'Bundle', type: 'collection', entry: [] });
    expect(res.status).toBe(400);
    expect((await res.json()).issue[0].diagnostics).toMatch(/batch.*transaction/);
  });
});
