import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// A token names its tenant; nothing crosses tenants: read, search, chain, include, history,
// batch, transaction, $everything.
let s: TestServer;
let a: string;
let b: string;
let patientA: string;
let obsA: string;
beforeAll(async () => {
  s = await startTestServer();
  a = await s.token('system/*.cruds', 'clinic-a');
  b = await s.token('system/*.cruds', 'clinic-b');
  const p = await (await s.fhir('Patient', { method: 'POST', token: a, json: { resourceType: 'Patient', name: [{ family: 'Secret' }], identifier: [{ system: 'urn:mrn', value: 'A-1' }] } })).json();
  patientA = p.id;
  const o = await (
    await s.fhir('Observation', { method: 'POST', token: a, json: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] }, subject: { reference: `Patient/${p.id}` } } })
  ).json();
  obsA = o.id;
});
afterAll(async () => {
  await s?.close();
});

describe('tenant isolation', () => {
  test('read, vread and history of another tenant’s resource are 404', async () => {
    expect((await s.fhir(`Patient/${patientA}`, { token: a })).status).toBe(200);
    expect((await s.fhir(`Patient/${patientA}`, { token: b })).status).toBe(404);
    expect((await s.fhir(`Patient/${patientA}/_history/1`, { token: b })).status).toBe(404);
    expect((await s.fhir(`Patient/${patientA}/_history`, { token: b })).status).toBe(404);
  });

  test('search, chain, _has, include and system history see nothing of the other tenant', async () => {
    const queries = [
      'Patient?family=Secret',
      'Patient?identifier=urn:mrn|A-1',
      'Observation?subject:Patient.family=Secret',
      'Patient?_has:Observation:subject:code=44261-6',
      `Observation?_id=${obsA}&_include=Observation:subject`,
      `Patient?_id=${patientA}&_revinclude=Observation:subject`,
      '?_type=Patient,Observation',
    ];
    for (const q of queries) {
      const mine = await (await s.fhir(q, { token: a })).json();
      expect(mine.entry?.length ?? 0, q).toBeGreaterThan(0);
      const theirs = await (await s.fhir(q, { token: b })).json();
      expect(theirs.entry ?? [], q).toEqual([]);
    }
    // Tenant B has history of its own (the Questionnaires and profiles every tenant starts with),
    // but nothing of tenant A's.
    const hist = await (await s.fhir('_history?_count=1000', { token: b })).json();
    const ids = (hist.entry ?? []).map((e: { resource?: { id?: string } }) => e.resource?.id);
    expect(ids).not.toContain(patientA);
    expect(ids).not.toContain(obsA);
    expect(JSON.stringify(hist)).not.toContain('Secret');
  });

  test('update, patch and delete cannot touch another tenant’s resource', async () => {
    // An update with the same id in tenant B creates B's own resource; A's stays as it was.
    const put = await s.fhir(`Patient/${patientA}`, { method: 'PUT', token: b, json: { resourceType: 'Patient', id: patientA, name: [{ family: 'Hijack' }] } });
    expect(put.status).toBe(201);
    expect((await (await s.fhir(`Patient/${patientA}`, { token: a })).json()).name[0].family).toBe('Secret');
    expect((await s.fhir(`Observation/${obsA}`, { method: 'DELETE', token: b })).status).toBe(404);
    expect((await s.fhir(`Observation/${obsA}`, { token: a })).status).toBe(200);
  });

  test('batch and transaction entries run in the caller’s tenant only', async () => {
    const res = await s.fhir('', {
      method: 'POST',
      token: b,
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Observation/${obsA}` } },
          { request: { method: 'GET', url: 'Observation?code=44261-6' } },
        ],
      },
    });
    const bundle = await res.json();
    expect(bundle.entry[0].response.status).toBe('404');
    expect(bundle.entry[1].resource.entry ?? []).toEqual([]);
    const tx = await s.fhir('', {
      method: 'POST',
      token: b,
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?identifier=urn:mrn|A-1' } }, request: { method: 'POST', url: 'Observation' } }],
      },
    });
    expect(tx.status).toBe(404); // A's patient cannot be resolved from B
  });

  test('$everything is confined to the tenant', async () => {
    const other = await (await s.fhir('Patient', { method: 'POST', token: a, json: { resourceType: 'Patient' } })).json();
    expect((await s.fhir(`Patient/${other.id}/$everything`, { token: b })).status).toBe(404);
    // B owns a Patient with A's patient id (created by the update test above): it sees only its own.
    const theirs = await (await s.fhir(`Patient/${patientA}/$everything`, { token: b })).json();
    expect(theirs.entry.map((e: { resource: { resourceType: string; name?: { family: string }[] } }) => e.resource.name?.[0]?.family)).toEqual(['Hijack']);
    const mine = await (await s.fhir(`Patient/${patientA}/$everything`, { token: a })).json();
    expect(mine.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType).sort()).toEqual(['Observation', 'Patient']);
  });
});

describe('scopes are enforced on every interaction', () => {
  test('read-only scope cannot write; Observation-only scope cannot read Patient', async () => {
    const ro = await s.token('system/*.read', 'clinic-a');
    expect((await s.fhir('Patient', { token: ro })).status).toBe(200);
    expect((await s.fhir('Patient', { method: 'POST', token: ro, json: { resourceType: 'Patient' } })).status).toBe(403);
    const obsOnly = await s.token('system/Observation.rs', 'clinic-a');
    expect((await s.fhir(`Observation/${obsA}`, { token: obsOnly })).status).toBe(200);
    expect((await s.fhir(`Patient/${patientA}`, { token: obsOnly })).status).toBe(403);
    expect((await s.fhir('Patient?family=Secret', { token: obsOnly })).status).toBe(403);
    const inc = await (await s.fhir(`Observation?_id=${obsA}&_include=Observation:subject`, { token: obsOnly })).json();
    expect(inc.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType)).toEqual(['Observation']);
    const write = await s.token('system/Observation.write', 'clinic-a');
    expect((await s.fhir('Observation', { method: 'POST', token: write, json: { resourceType: 'Observation', status: 'final', code: { text: 'y' } } })).status).toBe(201);
    expect((await s.fhir(`Observation/${obsA}`, { token: write })).status).toBe(403);
  });
});
