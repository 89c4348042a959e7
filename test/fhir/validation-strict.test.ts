import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// Spec-invalid bodies (R4 JSON representation, datatypes, required bindings, choice types, Bundle
// invariants) are refused with 400 and an OperationOutcome naming the element, on every write
// path: create, update, the result of a PATCH, a transaction entry and a batch entry.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

/** A minimal valid resource of each type the cases use; a case adds or replaces top-level elements. */
const BASE: Record<string, Record<string, unknown>> = {
  Patient: { resourceType: 'Patient' },
  Observation: { resourceType: 'Observation', status: 'final', code: { text: 'mood' } },
  Encounter: { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } },
  Questionnaire: { resourceType: 'Questionnaire', status: 'active' },
  Condition: { resourceType: 'Condition', subject: { reference: 'Patient/someone' } },
  Bundle: { resourceType: 'Bundle', type: 'collection' },
};

interface Case {
  name: string;
  type: string;
  /** Top-level elements added to (or replacing those of) the type's valid base. */
  set: Record<string, unknown>;
  /** The element path the OperationOutcome must name. */
  path: string;
}

const xhtml = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>';
const CASES: Case[] = [
  // JSON types
  { name: 'number where a Reference is expected', type: 'Observation', set: { subject: 1.5 }, path: 'Observation.subject' },
  { name: 'boolean where a Quantity is expected', type: 'Observation', set: { valueQuantity: true }, path: 'Observation.valueQuantity' },
  { name: 'string where a CodeableConcept is expected', type: 'Patient', set: { maritalStatus: 'married' }, path: 'Patient.maritalStatus' },
  { name: 'string where an array of HumanName is expected', type: 'Patient', set: { name: 'Bob' }, path: 'Patient.name' },
  { name: 'number where a string is expected', type: 'Patient', set: { name: [{ family: 5 }] }, path: 'Patient.name[0].family' },
  { name: 'string where a boolean is expected', type: 'Patient', set: { active: 'true' }, path: 'Patient.active' },
  { name: 'array where a single value is expected', type: 'Patient', set: { gender: ['male'] }, path: 'Patient.gender' },
  // required bindings
  { name: 'Patient.gender not in administrative-gender', type: 'Patient', set: { gender: 'robot' }, path: 'Patient.gender' },
  { name: 'Observation.status not in observation-status', type: 'Observation', set: { status: 'bogus' }, path: 'Observation.status' },
  { name: 'Encounter.status not in encounter-status', type: 'Encounter', set: { status: 'nope' }, path: 'Encounter.status' },
  { name: 'Questionnaire item type not in item-type', type: 'Questionnaire', set: { item: [{ linkId: '1', text: 'q', type: 'slider' }] }, path: 'Questionnaire.item[0].type' },
  { name: 'Bundle.type not in bundle-type', type: 'Bundle', set: { type: 'heap' }, path: 'Bundle.type' },
  { name: 'ContactPoint.system not in contact-point-system', type: 'Patient', set: { telecom: [{ system: 'pager2', value: '1' }] }, path: 'Patient.telecom[0].system' },
  { name: 'Address.use not in address-use', type: 'Patient', set: { address: [{ use: 'vacation', city: 'X' }] }, path: 'Patient.address[0].use' },
  { name: 'HumanName.use not in name-use', type: 'Patient', set: { name: [{ use: 'nick', family: 'X' }] }, path: 'Patient.name[0].use' },
  { name: 'Identifier.use not in identifier-use', type: 'Patient', set: { identifier: [{ use: 'weird', value: 'X' }] }, path: 'Patient.identifier[0].use' },
  { name: 'Narrative.status not in narrative-status', type: 'Patient', set: { text: { status: 'bad', div: xhtml } }, path: 'Patient.text.status' },
  { name: 'Quantity.comparator not in quantity-comparator', type: 'Observation', set: { valueQuantity: { value: 1, comparator: '~' } }, path: 'Observation.valueQuantity.comparator' },
  {
    name: 'CodeableConcept with no coding from its required value set',
    type: 'Condition',
    set: { clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'zombie' }] } },
    path: 'Condition.clinicalStatus',
  },
  { name: 'a code in a contained resource', type: 'Observation', set: { contained: [{ resourceType: 'Patient', id: 'p1', gender: 'robot' }] }, path: 'Observation.contained[0].gender' },
  // dates and times
  { name: 'dateTime with a time but no zone', type: 'Observation', set: { effectiveDateTime: '2024-01-01T10:00:00' }, path: 'Observation.effectiveDateTime' },
  { name: 'dateTime with an hour only', type: 'Observation', set: { effectivePeriod: { start: '2024-01-01T10' } }, path: 'Observation.effectivePeriod.start' },
  { name: 'date that does not exist', type: 'Patient', set: { birthDate: '2024-13-45' }, path: 'Patient.birthDate' },
  { name: 'instant without seconds', type: 'Observation', set: { issued: '2024-01-01T10:00Z' }, path: 'Observation.issued' },
  { name: 'instant without a zone', type: 'Observation', set: { issued: '2024-01-01T10:00:00' }, path: 'Observation.issued' },
  // one choice per [x]
  { name: 'two choices of value[x]', type: 'Observation', set: { valueString: 'a', valueBoolean: true }, path: 'Observation.value' },
  { name: 'deceasedBoolean with deceasedDateTime', type: 'Patient', set: { deceasedBoolean: true, deceasedDateTime: '2020-01-01' }, path: 'Patient.deceased' },
  // empty and null
  { name: 'empty string', type: 'Patient', set: { name: [{ family: '' }] }, path: 'Patient.name[0].family' },
  { name: 'whitespace-only string', type: 'Patient', set: { name: [{ family: '   ' }] }, path: 'Patient.name[0].family' },
  { name: 'empty string in an extension value', type: 'Patient', set: { extension: [{ url: 'http://example.org/x', valueString: '' }] }, path: 'Patient.extension[0].valueString' },
  { name: 'empty array', type: 'Patient', set: { name: [] }, path: 'Patient.name' },
  { name: 'empty array inside a datatype', type: 'Patient', set: { name: [{ family: 'X', given: [] }] }, path: 'Patient.name[0].given' },
  { name: 'empty object', type: 'Patient', set: { name: [{}] }, path: 'Patient.name[0]' },
  { name: 'null value', type: 'Patient', set: { gender: null }, path: 'Patient.gender' },
  // unknown elements
  { name: 'unknown element', type: 'Patient', set: { colour: 'blue' }, path: 'Patient.colour' },
];

const body = (c: Case) => ({ ...BASE[c.type], ...c.set });

/** The OperationOutcome names the element (in an issue's expression or diagnostics). */
function expectNames(outcome: { resourceType: string; issue: unknown[] }, path: string) {
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(outcome.issue)).toContain(path);
}

async function createValid(type: string): Promise<Record<string, unknown>> {
  const res = await s.fhir(type, { method: 'POST', json: BASE[type] });
  expect(res.status).toBe(201);
  return res.json();
}

describe.each(CASES)('$name', (c) => {
  test('create is 400 naming the element', async () => {
    const res = await s.fhir(c.type, { method: 'POST', json: body(c) });
    expect(res.status).toBe(400);
    expectNames(await res.json(), c.path);
  });

  test('update is 400 naming the element, and the stored version stays', async () => {
    const stored = await createValid(c.type);
    const res = await s.fhir(`${c.type}/${stored.id}`, { method: 'PUT', json: { ...body(c), id: stored.id } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), c.path);
    expect((await (await s.fhir(`${c.type}/${stored.id}`)).json()).meta.versionId).toBe('1');
  });

  test('a PATCH whose result is invalid is 400 naming the element', async () => {
    const stored = await createValid(c.type);
    const ops = Object.entries(c.set).map(([k, v]) => ({ op: 'add', path: `/${k}`, value: v }));
    const res = await s.fhir(`${c.type}/${stored.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });
    expect(res.status).toBe(400);
    expectNames(await res.json(), c.path);
    expect((await (await s.fhir(`${c.type}/${stored.id}`)).json()).meta.versionId).toBe('1');
  });

  test('a transaction entry fails the transaction with 400 naming the element', async () => {
    const res = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Fine' }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: body(c), request: { method: 'POST', url: c.type } },
        ],
      },
    });
    expect(res.status).toBe(400);
    expectNames(await res.json(), c.path);
  });

  test('a batch entry gets its own 400 naming the element; the others proceed', async () => {
    const res = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: body(c), request: { method: 'POST', url: c.type } },
          { resource: { resourceType: 'Patient', name: [{ family: 'Fine' }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    const b = await res.json();
    expect(b.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['400', '201']);
    expectNames(b.entry[0].response.outcome, c.path);
  });
});

describe('valid counterparts of the cases are accepted', () => {
  test.each([
    { resourceType: 'Patient', gender: 'female', active: true, maritalStatus: { text: 'married' }, birthDate: '2024-02-29', deceasedDateTime: '2020-01-01' },
    { resourceType: 'Patient', name: [{ use: 'official', family: 'X', given: ['A'] }], telecom: [{ system: 'phone', value: '1' }], address: [{ use: 'home', city: 'X' }] },
    { resourceType: 'Patient', identifier: [{ use: 'usual', value: 'X' }], text: { status: 'generated', div: xhtml }, extension: [{ url: 'http://example.org/x', valueString: 'y' }] },
    { ...BASE.Observation, effectiveDateTime: '2024-01-01T10:00:00+02:00', issued: '2024-01-01T10:00:00.123Z', valueQuantity: { value: 1, comparator: '<' } },
    { ...BASE.Observation, effectivePeriod: { start: '2024-01', end: '2024-02-03' }, valueString: 'a' },
    { ...BASE.Observation, contained: [{ resourceType: 'Patient', id: 'p1', gender: 'other' }], subject: { reference: '#p1' } },
    { ...BASE.Encounter, status: 'in-progress' },
    { ...BASE.Questionnaire, item: [{ linkId: '1', text: 'q', type: 'choice' }] },
    { ...BASE.Condition, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] } },
    { ...BASE.Bundle, type: 'searchset' },
  ])('$resourceType %#', async (resource) => {
    const res = await s.fhir(String(resource.resourceType), { method: 'POST', json: resource });
    expect(res.status).toBe(201);
  });
});

describe('Bundle invariants of a transaction or batch', () => {
  const entry = (fullUrl?: string) => ({
    ...(fullUrl ? { fullUrl } : {}),
    resource: { resourceType: 'Patient', name: [{ family: 'Dup' }] },
    request: { method: 'POST', url: 'Patient' },
  });
  const count = async () => (await (await s.fhir('Patient?family=Dup&_total=accurate&_count=0')).json()).total;

  test.each(['transaction', 'batch'])('bdl-7: two entries sharing one fullUrl fail the %s with 400 naming the entry, nothing stored', async (type) => {
    const before = await count();
    const url = 'urn:uuid:5b0e4b62-8d1e-4c0b-9a57-4b4f6f0b7c11';
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type, entry: [entry(url), entry(url)] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'Bundle.entry[1].fullUrl');
    expect(await count()).toBe(before);
  });

  test('entries may share a fullUrl when they hold different versions (bdl-7)', async () => {
    const url = 'http://example.org/fhir/Patient/shared';
    const version = (v: string) => ({ fullUrl: url, resource: { resourceType: 'Patient', meta: { versionId: v }, name: [{ family: 'Versions' }] }, request: { method: 'POST', url: 'Patient' } });
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: [version('1'), version('2')] } });
    expect(res.status).toBe(200);
    expect((await res.json()).entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201', '201']);
  });

  test('bdl-4: an entry of a transaction may not carry a response', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [{ ...entry(), response: { status: '201' } }] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'bdl-4');
  });

  test('bdl-8: a fullUrl may not be version specific', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [entry('http://example.org/fhir/Patient/1/_history/1')] } });
    expect(res.status).toBe(400);
    const outcome = await res.json();
    expectNames(outcome, 'bdl-8');
    expectNames(outcome, 'Bundle.entry[0]');
  });

  test('bdl-1: a transaction has no total', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', total: 1, entry: [entry()] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'bdl-1');
  });

  test('an entry request method outside http-verb is 400 naming it', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: [{ ...entry(), request: { method: 'FETCH', url: 'Patient' } }] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'Bundle.entry[0].request.method');
  });

  test('a transaction entry without a request is 400 naming it', async () => {
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' } }] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'Bundle.entry[0].request');
  });

  test('bdl-3: a stored collection Bundle may not carry entry requests', async () => {
    const res = await s.fhir('Bundle', { method: 'POST', json: { resourceType: 'Bundle', type: 'collection', entry: [entry()] } });
    expect(res.status).toBe(400);
    expectNames(await res.json(), 'bdl-3');
  });
});
