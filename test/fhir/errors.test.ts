import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// Every error a client sees is the server's own wording (README, "What the FHIR API does"): no
// JavaScript or database message, and a bad request changes nothing.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const INTERNAL = /Cannot read properties|undefined|null \(reading|Maximum call stack|RangeError|TypeError|canceling statement|could not serialize|SQL|relation "|duplicate key|in JSON at position|Unexpected token/i;
const FHIR_JSON = { 'content-type': 'application/fhir+json' };

async function outcomeText(res: Response): Promise<string> {
  const o = await res.json();
  expect(o.resourceType).toBe('OperationOutcome');
  const text = o.issue.map((i: { diagnostics?: string; details?: { text?: string } }) => `${i.details?.text ?? ''} ${i.diagnostics ?? ''}`).join(' ');
  expect(text).not.toMatch(INTERNAL);
  return text;
}

async function patientCount(tenantToken?: string): Promise<number> {
  return (await (await s.fhir('Patient?_total=accurate&_count=0', { token: tenantToken })).json()).total;
}

describe('a request without a body', () => {
  test('POST Patient: 400 "no body", nothing created', async () => {
    const before = await patientCount();
    const res = await s.fhir('Patient', { method: 'POST', headers: FHIR_JSON });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/no body/i);
    expect(await patientCount()).toBe(before);
  });

  test('POST Patient with the JSON literal null: 400 in our words', async () => {
    const res = await s.fhir('Patient', { method: 'POST', headers: FHIR_JSON, body: 'null' });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/FHIR resource/);
  });

  test('PUT Patient/{id} and PATCH Patient/{id}: 400 "no body"', async () => {
    const p = await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json();
    for (const method of ['PUT', 'PATCH']) {
      const res = await s.fhir(`Patient/${p.id}`, { method, headers: FHIR_JSON });
      expect(res.status).toBe(400);
      expect(await outcomeText(res)).toMatch(/no body/i);
    }
    expect((await (await s.fhir(`Patient/${p.id}`)).json()).meta.versionId).toBe('1');
  });

  test('a batch entry that creates without a resource: 400 in our words', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'Patient' } }] } });
    expect(res.status).toBe(200);
    const entry = (await res.json()).entry[0];
    expect(entry.response.status).toBe('400');
    const text = entry.response.outcome.issue.map((i: { diagnostics?: string; details?: { text?: string } }) => `${i.details?.text} ${i.diagnostics}`).join(' ');
    expect(text).not.toMatch(INTERNAL);
    expect(text).toMatch(/no body|no resource/i);
  });
});

describe('malformed input that used to reach JavaScript code unchecked', () => {
  test('a JSON Patch with a null operation, a POST of an array: 400 in our words', async () => {
    const p = await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json();
    const patch = await s.fhir(`Patient/${p.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: '[null]' });
    expect(patch.status).toBe(400);
    expect(await outcomeText(patch)).toMatch(/JSON Patch operation 0/);
    const array = await s.fhir('Patient', { method: 'POST', json: [] });
    expect(array.status).toBe(400);
    expect(await outcomeText(array)).toMatch(/FHIR resource/);
  });

  test('bundles with a null entry, or a PATCH entry whose Binary is not JSON: 400 in our words', async () => {
    const bad = Buffer.from('{not json').toString('base64');
    for (const type of ['batch', 'transaction']) {
      const nullEntry = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type, entry: [null] } });
      expect(nullEntry.status).toBe(400);
      expect(await outcomeText(nullEntry)).toMatch(/Entry 0/);
      const binary = await s.fhir('', {
        method: 'POST',
        json: { resourceType: 'Bundle', type, entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: bad }, request: { method: 'PATCH', url: 'Patient/x' } }] },
      });
      expect(binary.status).toBe(400);
      expect(await outcomeText(binary)).toMatch(/JSON Patch/);
    }
  });
});

describe('deeply nested JSON', () => {
  const nested = (levels: number) => `{"resourceType":"Patient","extension":${'['.repeat(levels)}${']'.repeat(levels)}}`;

  test('100,000 levels: 400 "nested too deeply", nothing created', async () => {
    const before = await patientCount();
    const res = await s.fhir('Patient', { method: 'POST', headers: FHIR_JSON, body: nested(100_000) });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/nested too deeply/);
    expect(await patientCount()).toBe(before);
  });

  test('5,000,000 levels: the same 400', async () => {
    const res = await s.fhir('Patient', { method: 'POST', headers: FHIR_JSON, body: nested(5_000_000) });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/nested too deeply/);
  });

  test('nesting inside strings does not count', async () => {
    const res = await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ text: '['.repeat(500) + '{'.repeat(500) }] } });
    expect(res.status).toBe(201);
  });
});

describe('type-level PUT, PATCH and DELETE without criteria', () => {
  // A tenant of its own with one Patient: a criterion-less conditional write would match exactly it.
  let token: string;
  let id: string;
  beforeAll(async () => {
    token = await s.token('system/*.cruds', 'no-criteria');
    id = (await (await s.fhir('Patient', { method: 'POST', token, json: { resourceType: 'Patient', gender: 'female' } })).json()).id;
  });

  test('PUT Patient: 400 naming the missing criteria; the Patient is unchanged', async () => {
    const res = await s.fhir('Patient', { method: 'PUT', token, json: { resourceType: 'Patient', gender: 'male' } });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/criteria/);
    expect((await (await s.fhir(`Patient/${id}`, { token })).json()).meta.versionId).toBe('1');
  });

  test('PATCH Patient: 400; the Patient is unchanged', async () => {
    const res = await s.fhir('Patient', {
      method: 'PATCH',
      token,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]),
    });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/criteria/);
    expect((await (await s.fhir(`Patient/${id}`, { token })).json()).meta.versionId).toBe('1');
  });

  test('DELETE Patient: 400; the Patient is still there', async () => {
    const res = await s.fhir('Patient', { method: 'DELETE', token });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/criteria/);
    expect((await s.fhir(`Patient/${id}`, { token })).status).toBe(200);
  });

  test('_format alone is no criterion', async () => {
    const res = await s.fhir('Patient?_format=json', { method: 'DELETE', token });
    expect(res.status).toBe(400);
    expect((await s.fhir(`Patient/${id}`, { token })).status).toBe(200);
  });

  test('in a transaction, a PUT entry to the type without criteria fails the bundle', async () => {
    const res = await s.fhir('', {
      method: 'POST',
      token,
      json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', gender: 'other' }, request: { method: 'PUT', url: 'Patient' } }] },
    });
    expect(res.status).toBe(400);
    expect(await outcomeText(res)).toMatch(/criteria/);
    expect((await (await s.fhir(`Patient/${id}`, { token })).json()).meta.versionId).toBe('1');
  });
});
