import type { Coding, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { TENANT, buildClinic } from './clinic.ts';

/**
 * 42 CFR Part 2 segmentation by rule (server/src/clinical/part2/README.md): records written in a
 * Part 2 program, or coded as SUD, are labelled in the write; the labels hide them like any
 * restricted record; they are never silently removed.
 */
let s: TestServer;
const tok: Record<string, string> = {};
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const PROGRAM = { coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/part2-program', code: 'part2-program' }] };
const REASON_URL = 'http://bh-fhir.org/fhir/StructureDefinition/security-label-removal-reason';
const PART2 = [`${CONF}|R`, `${ACT}|42CFRPart2`, `${ACT}|NORDSCLCD`, `${ACT}|SUD`];

beforeAll(async () => {
  s = await startTestServer();
  await buildClinic(s);
  const person = (fhirUser: string, roles: string[], scope: string, extra: Record<string, string> = {}) =>
    s.personToken({ tenant: TENANT, fhirUser, userId: fhirUser, roles: roles as never, scope, ...extra });
  tok.drA = await person('Practitioner/prac-a-x', ['clinician'], 'user/*.cruds', { purposeOfUse: 'TREAT' });
  tok.drANoPurpose = await person('Practitioner/prac-a-x', ['clinician'], 'user/*.cruds');
  tok.drB = await person('Practitioner/prac-b-x', ['clinician'], 'user/*.cruds', { purposeOfUse: 'TREAT' });
  tok.supervisor = await person('Practitioner/prac-s-x', ['supervisor'], 'user/*.cruds', { purposeOfUse: 'TREAT' });
  tok.admin = await person('Practitioner/prac-m-x', ['tenant-admin'], 'user/*.cruds');
  tok.system = await s.token('system/*.cruds', TENANT);
  // System tokens see labelled records only through a scope naming the type (access/README.md).
  tok.reader = await s.token('system/Observation.rs system/Condition.rs system/Encounter.rs system/AuditEvent.rs', TENANT);
  // The tenant admin marks the clinic's SUD unit as a Part 2 program.
  expect((await write(tok.admin, 'PUT', 'Organization/org-p2-x', { resourceType: 'Organization', id: 'org-p2-x', name: 'SUD unit', type: [PROGRAM] })).status).toBe(201);
  const enc = (id: string, extra: Record<string, unknown>) => ({ resourceType: 'Encounter', id, status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/pat-a1-x' }, ...extra });
  for (const r of [
    enc('enc-p2-x', { serviceProvider: { reference: 'Organization/org-p2-x' } }),
    enc('enc-gen-x', { serviceProvider: { reference: 'Organization/org-x' } }),
    { resourceType: 'EpisodeOfCare', id: 'eoc-p2-x', status: 'active', type: [PROGRAM], patient: { reference: 'Patient/pat-a1-x' } },
    enc('enc-ep-x', { episodeOfCare: [{ reference: 'EpisodeOfCare/eoc-p2-x' }] }),
  ]) {
    expect((await write(tok.system, 'PUT', `${r.resourceType}/${r.id}`, r)).status).toBe(201);
  }
});
afterAll(async () => {
  await s?.close();
});

async function write(token: string, method: string, path: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await s.fhir(path, { method, token, json });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
const labels = (r: Record<string, unknown>): string[] =>
  (((r.meta as { security?: Coding[] } | undefined)?.security ?? []).map((c) => `${c.system}|${c.code}`)).sort();
async function stored(path: string): Promise<Record<string, unknown>> {
  const res = await s.fhir(path, { token: tok.reader });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}
const obs = (extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '44249-1' }] }, subject: { reference: 'Patient/pat-a1-x' }, ...extra }) as Resource;
const condition = (system: string, code: string): Resource =>
  ({ resourceType: 'Condition', subject: { reference: 'Patient/pat-a1-x' }, code: { coding: [{ system, code }] } }) as Resource;
const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';

describe('labelled at write time by program context', () => {
  test('an Observation in an Encounter of a Part 2 Organization carries R, 42CFRPart2, NORDSCLCD, SUD', async () => {
    const res = await write(tok.drA, 'POST', 'Observation', obs({ encounter: { reference: 'Encounter/enc-p2-x' } }));
    expect(res.status).toBe(201);
    expect(labels(res.body)).toEqual([...PART2].sort());
    expect(labels(await stored(`Observation/${res.body.id}`))).toEqual([...PART2].sort());
    expect(labels(await stored('Encounter/enc-p2-x'))).toEqual([...PART2].sort());
    // The same in an ordinary clinic Encounter: no label.
    const plain = await write(tok.drA, 'POST', 'Observation', obs({ encounter: { reference: 'Encounter/enc-gen-x' } }));
    expect(plain.status).toBe(201);
    expect(labels(await stored(`Observation/${plain.body.id}`))).toEqual([]);
    expect(labels(await stored('Encounter/enc-gen-x'))).toEqual([]);
  });

  test('an Encounter of a Part 2 episode labels what is recorded in it', async () => {
    const res = await write(tok.drA, 'POST', 'Observation', obs({ encounter: { reference: 'Encounter/enc-ep-x' } }));
    expect(res.status).toBe(201);
    expect(labels(await stored(`Observation/${res.body.id}`))).toEqual([...PART2].sort());
  });
});

describe('in a transaction Bundle', () => {
  test('an Encounter at a Part 2 Organization and the Observations recorded in it, written together, are all labelled', async () => {
    const enc = 'urn:uuid:6f1c2b9e-0d3a-4c55-9a51-2f0b5b7c1e01';
    const entry = (fullUrl: string | undefined, resource: Record<string, unknown>) => ({ ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: resource.resourceType } });
    const res = await write(tok.drA, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry(enc, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/pat-a1-x' }, serviceProvider: { reference: 'Organization/org-p2-x' } }),
        entry(undefined, obs({ encounter: { reference: enc } }) as unknown as Record<string, unknown>),
        entry(undefined, obs({ encounter: { reference: enc } }) as unknown as Record<string, unknown>),
      ],
    });
    expect(res.status).toBe(200);
    const locations = (res.body.entry as { response: { location: string } }[]).map((e) => e.response.location.split('/_history')[0]);
    expect(locations).toHaveLength(3);
    for (const location of locations) expect(labels(await stored(location))).toEqual([...PART2].sort());
  });
});

describe('labelled at write time by content', () => {
  test('a SUD diagnosis (ICD-10-CM F11.20) outside any program is labelled; depression and nicotine dependence are not', async () => {
    const sud = await write(tok.drA, 'POST', 'Condition', condition(ICD, 'F11.20'));
    expect(sud.status).toBe(201);
    expect(labels(await stored(`Condition/${sud.body.id}`))).toEqual([...PART2].sort());
    const snomed = await write(tok.drA, 'POST', 'Condition', condition('http://snomed.info/sct', '7200002'));
    expect(labels(await stored(`Condition/${snomed.body.id}`))).toEqual([...PART2].sort());
    for (const code of ['F32.A', 'F17.210']) {
      const other = await write(tok.drA, 'POST', 'Condition', condition(ICD, code));
      expect(other.status).toBe(201);
      expect(labels(await stored(`Condition/${other.body.id}`))).toEqual([]);
    }
  });
});

describe('labelled records are hidden', () => {
  test('from the treating clinician without purpose TREAT and from a clinician who does not treat the patient', async () => {
    const sud = await write(tok.drA, 'POST', 'Condition', condition(ICD, 'F10.20'));
    const path = `Condition/${sud.body.id}`;
    expect((await s.fhir(path, { token: tok.drA })).status).toBe(200);
    expect((await s.fhir(path, { token: tok.drANoPurpose })).status).toBe(404);
    expect((await s.fhir(path, { token: tok.drB })).status).toBe(404);
    const search = (await (await s.fhir('Condition?subject=Patient/pat-a1-x', { token: tok.drANoPurpose })).json()) as { entry?: { resource: { id: string } }[] };
    expect((search.entry ?? []).map((e) => e.resource.id)).not.toContain(sud.body.id);
  });
});

describe('never silently removed', () => {
  test('an update that leaves the labels out keeps them', async () => {
    const created = await write(tok.drA, 'POST', 'Observation', obs({ encounter: { reference: 'Encounter/enc-p2-x' } }));
    const { meta: _meta, ...plain } = created.body;
    const updated = await write(tok.drA, 'PUT', `Observation/${created.body.id}`, { ...plain, status: 'amended', encounter: { reference: 'Encounter/enc-gen-x' } });
    expect(updated.status).toBe(200);
    expect(labels(await stored(`Observation/${created.body.id}`))).toEqual([...PART2].sort());
  });

  test('a removal with a reason by a clinician is refused (403) and changes nothing', async () => {
    const created = await write(tok.drA, 'POST', 'Condition', condition(ICD, 'F12.20'));
    const { meta: _meta, ...plain } = created.body;
    const res = await write(tok.drA, 'PUT', `Condition/${created.body.id}`, { ...plain, code: { coding: [{ system: ICD, code: 'F32.A' }] }, meta: { extension: [{ url: REASON_URL, valueString: 'miscoded' }] } });
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const now = await stored(`Condition/${created.body.id}`);
    expect(labels(now)).toEqual([...PART2].sort());
    expect((now.meta as { versionId: string }).versionId).toBe('1');
  });

  test('a supervisor removes them with a reason once the rule no longer applies; the removal is audited', async () => {
    const created = await write(tok.drA, 'POST', 'Condition', condition(ICD, 'F14.20'));
    const id = created.body.id as string;
    const { meta: _meta, ...plain } = created.body;
    const reason = { meta: { extension: [{ url: REASON_URL, valueString: 'Diagnosis entered on the wrong patient record; corrected' }] } };
    // While the code still says SUD, the rule keeps the labels: 422.
    const stillSud = await write(tok.supervisor, 'PUT', `Condition/${id}`, { ...plain, ...reason });
    expect(stillSud.status).toBe(422);
    expect(JSON.stringify(stillSud.body)).toContain('meta.security');

    const res = await write(tok.supervisor, 'PUT', `Condition/${id}`, { ...plain, code: { coding: [{ system: ICD, code: 'F32.A' }] }, ...reason });
    expect(res.status).toBe(200);
    const now = await stored(`Condition/${id}`);
    expect(labels(now)).toEqual([]);
    expect(JSON.stringify(now)).not.toContain(REASON_URL);
    expect((await s.fhir(`Condition/${id}`, { token: tok.drANoPurpose })).status).toBe(200);

    const audit = (await (
      await s.fhir('AuditEvent?subtype=http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype|security-label-removed', { token: tok.system })
    ).json()) as { entry?: { resource: { entity: { what?: { reference: string }; securityLabel?: Coding[]; detail?: { valueString: string }[] }[]; agent: { who?: { reference?: string } }[] } }[] };
    const events = (audit.entry ?? []).map((e) => e.resource);
    expect(events).toHaveLength(1);
    const entity = events[0].entity[0];
    expect(entity.what?.reference).toBe(`Condition/${id}/_history/2`);
    expect(entity.detail?.[0].valueString).toBe('Diagnosis entered on the wrong patient record; corrected');
    expect((entity.securityLabel ?? []).map((c) => `${c.system}|${c.code}`).sort()).toEqual([...PART2].sort());
    expect(events[0].agent.map((a) => a.who?.reference)).toContain('Practitioner/prac-s-x');
  });
});
