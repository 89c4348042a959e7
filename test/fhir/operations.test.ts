import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('$validate', () => {
  test('reports issues with element paths and stores nothing', async () => {
    const res = await s.fhir('Patient/$validate', { method: 'POST', json: { resourceType: 'Patient', birthDate: 'soon', name: [{ family: 'V' }] } });
    expect(res.status).toBe(200);
    const o = await res.json();
    expect(o.resourceType).toBe('OperationOutcome');
    expect(o.issue.some((i: { severity: string; expression?: string[] }) => i.severity === 'error' && i.expression?.includes('Patient.birthDate'))).toBe(true);
    const search = await (await s.fhir('Patient?family=V&_total=accurate')).json();
    expect(search.total).toBe(0);
  });

  test('a valid resource passes; Parameters with a profile validates against the stored profile', async () => {
    const ok = await (await s.fhir('Patient/$validate', { method: 'POST', json: { resourceType: 'Patient', gender: 'female' } })).json();
    expect(ok.issue[0].severity).toBe('information');
    const profile = {
      resourceType: 'StructureDefinition',
      url: 'https://example.org/fhir/StructureDefinition/patient-with-birthdate',
      name: 'PatientWithBirthDate',
      status: 'active',
      kind: 'resource',
      abstract: false,
      type: 'Patient',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
      derivation: 'constraint',
      differential: { element: [{ id: 'Patient.birthDate', path: 'Patient.birthDate', min: 1 }] },
      snapshot: {
        element: [
          { id: 'Patient', path: 'Patient', definition: 'A patient', min: 0, max: '*', base: { path: 'Patient', min: 0, max: '*' } },
          { id: 'Patient.birthDate', path: 'Patient.birthDate', definition: 'Required here', min: 1, max: '1', base: { path: 'Patient.birthDate', min: 0, max: '1' }, type: [{ code: 'date' }] },
        ],
      },
    };
    const sd = await s.fhir('StructureDefinition', { method: 'POST', json: profile });
    expect(sd.status, await sd.clone().text()).toBe(201);
    const res = await (
      await s.fhir('Patient/$validate', {
        method: 'POST',
        json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient' } }, { name: 'profile', valueUri: profile.url }] },
      })
    ).json();
    expect(res.issue.some((i: { severity: string }) => i.severity === 'error')).toBe(true);
    expect(JSON.stringify(res)).toContain('birthDate');
  });

  test('unknown profile is a 400 naming it', async () => {
    const res = await s.fhir('Patient/$validate?profile=https://nope.example/sd', { method: 'POST', json: { resourceType: 'Patient' } });
    expect(res.status).toBe(400);
    expect((await res.json()).issue[0].diagnostics).toContain('https://nope.example/sd');
  });
});

describe('Patient/$everything', () => {
  test('returns the patient and its compartment, nothing of other patients', async () => {
    const p1 = (await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json()).id;
    const p2 = (await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json()).id;
    for (const p of [p1, p1, p2]) {
      await s.fhir('Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p}` } } });
    }
    await s.fhir('Encounter', { method: 'POST', json: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${p1}` } } });
    const b = await (await s.fhir(`Patient/${p1}/$everything`)).json();
    const types = b.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType).sort();
    expect(types).toEqual(['Encounter', 'Observation', 'Observation', 'Patient']);
    const onlyObs = await (await s.fhir(`Patient/${p1}/$everything?_type=Observation`)).json();
    expect(onlyObs.entry).toHaveLength(2);
  });
});
