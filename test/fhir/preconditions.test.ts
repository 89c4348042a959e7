import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// If-Match (https://hl7.org/fhir/R4/http.html#concurrency): a precondition that cannot match must
// fail, whatever its form, on every write that takes one: a malformed header must never let a
// write through as if there were no precondition (the lost-update protection).
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const MALFORMED = ['garbage', 'W/""', ',', 'W/', 'x'.repeat(4000)];

async function patient(): Promise<{ id: string; resourceType: string; gender: string; meta: { versionId: string } }> {
  return (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient', gender: 'female' } })).json();
}

/** The patient is still at version 1, as created. */
async function expectUnchanged(id: string): Promise<void> {
  const read = await s.fhir(`Patient/${id}`);
  expect(read.status).toBe(200);
  const body = await read.json();
  expect(body.meta.versionId).toBe('1');
  expect(body.gender).toBe('female');
}

function expectRefused(res: Response, o: { resourceType: string; issue: { diagnostics?: string }[] }): void {
  expect([400, 412]).toContain(res.status);
  expect(o.resourceType).toBe('OperationOutcome');
  expect(o.issue[0].diagnostics).toMatch(/If-Match/);
}

describe.each(MALFORMED.map((m) => [m.length > 20 ? `${m.length} characters` : m, m]))('If-Match %s', (_label, ifMatch) => {
  test('PUT is refused and changes nothing', async () => {
    const p = await patient();
    const res = await s.fhir(`Patient/${p.id}`, { method: 'PUT', json: { ...p, gender: 'male' }, headers: { 'if-match': ifMatch } });
    expectRefused(res, await res.json());
    await expectUnchanged(p.id);
  });

  test('PATCH is refused and changes nothing', async () => {
    const p = await patient();
    const res = await s.fhir(`Patient/${p.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json', 'if-match': ifMatch },
      body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]),
    });
    expectRefused(res, await res.json());
    await expectUnchanged(p.id);
  });

  test('DELETE is refused and changes nothing', async () => {
    const p = await patient();
    const res = await s.fhir(`Patient/${p.id}`, { method: 'DELETE', headers: { 'if-match': ifMatch } });
    expectRefused(res, await res.json());
    await expectUnchanged(p.id);
  });

  test('a transaction entry with it fails the transaction and changes nothing', async () => {
    const p = await patient();
    const res = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: { ...p, gender: 'male' }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch } }],
      },
    });
    expectRefused(res, await res.json());
    await expectUnchanged(p.id);
  });

  test('a batch entry with it is refused, and changes nothing', async () => {
    const p = await patient();
    const res = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'DELETE', url: `Patient/${p.id}`, ifMatch } }],
      },
    });
    expect(res.status).toBe(200);
    const entry = (await res.json()).entry[0];
    expect(['400', '412']).toContain(entry.response.status);
    expect(entry.response.outcome.issue[0].diagnostics).toMatch(/If-Match/);
    await expectUnchanged(p.id);
  });
});

describe('a well-formed If-Match', () => {
  test('the current version lets PUT, PATCH and DELETE through, weak or strong', async () => {
    const p = await patient();
    const put = await s.fhir(`Patient/${p.id}`, { method: 'PUT', json: { ...p, gender: 'male' }, headers: { 'if-match': 'W/"1"' } });
    expect(put.status).toBe(200);
    const patch = await s.fhir(`Patient/${p.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json', 'if-match': '"2"' },
      body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }]),
    });
    expect(patch.status).toBe(200);
    expect((await patch.json()).meta.versionId).toBe('3');
    expect((await s.fhir(`Patient/${p.id}`, { method: 'DELETE', headers: { 'if-match': ' W/"3" ' } })).status).toBe(200);
    expect((await s.fhir(`Patient/${p.id}`)).status).toBe(410);
  });

  test('the current version in a transaction entry lets it through', async () => {
    const p = await patient();
    const res = await s.fhir('', {
      method: 'POST',
      json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { ...p, gender: 'male' }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } }] },
    });
    expect(res.status).toBe(200);
    expect((await (await s.fhir(`Patient/${p.id}`)).json()).gender).toBe('male');
  });

  test('a conditional DELETE honours If-Match: a stale version is 412 and deletes nothing', async () => {
    const p = await patient();
    const res = await s.fhir(`Patient?_id=${p.id}`, { method: 'DELETE', headers: { 'if-match': 'W/"7"' } });
    expect(res.status).toBe(412);
    await expectUnchanged(p.id);
    expect((await s.fhir(`Patient?_id=${p.id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } })).status).toBe(200);
    expect((await s.fhir(`Patient/${p.id}`)).status).toBe(410);
  });

  test('a conditional update that matches nothing cannot meet an If-Match: 412, nothing created', async () => {
    const res = await s.fhir('Patient?identifier=http://example.org/mrn|no-such-mrn', {
      method: 'PUT',
      json: { resourceType: 'Patient', identifier: [{ system: 'http://example.org/mrn', value: 'no-such-mrn' }] },
      headers: { 'if-match': 'W/"1"' },
    });
    expect(res.status).toBe(412);
    const found = await (await s.fhir('Patient?identifier=http://example.org/mrn|no-such-mrn')).json();
    expect(found.entry ?? []).toHaveLength(0);
  });
});

describe('racing conditional updates', () => {
  test('20 parallel PUT Patient?identifier= for a new identifier: one 201, the rest 200, one Patient', async () => {
    const mrn = 'race-1';
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.fhir(`Patient?identifier=http://example.org/mrn|${mrn}`, {
          method: 'PUT',
          json: { resourceType: 'Patient', identifier: [{ system: 'http://example.org/mrn', value: mrn }], birthDate: `20${10 + i}-01-01` },
        })
      )
    );
    const statuses = results.map((r) => r.status).sort();
    const bodies = await Promise.all(results.map((r) => r.text()));
    expect(statuses, bodies.filter((b) => !b.includes('"Patient"')).join('\n')).toEqual([200, ...Array(18).fill(200), 201].sort());
    const found = await (await s.fhir(`Patient?identifier=http://example.org/mrn|${mrn}&_total=accurate`)).json();
    expect(found.total).toBe(1);
    const history = await (await s.fhir(`Patient/${found.entry[0].resource.id}/_history?_count=100`)).json();
    expect(history.entry).toHaveLength(20);
  });
});
