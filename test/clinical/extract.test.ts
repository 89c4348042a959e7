import type { Bundle, Observation, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { SAMPLE_URL, perCodeQuestionnaire, sampleQuestionnaire } from './extract-fixtures.ts';
import { createPatient, def, responseFor, spread } from './instruments-fixtures.ts';

/**
 * $extract against the SDC observation-based extraction rules
 * (https://build.fhir.org/ig/HL7/sdc/extraction.html#observation-based-extraction).
 */
let s: TestServer;
let patient: string;
const context = {
  encounter: { reference: 'Encounter/enc-1' },
  basedOn: [{ reference: 'CarePlan/plan-1' }],
  partOf: [{ reference: 'Procedure/proc-1' }],
  author: { reference: 'Practitioner/prac-1' },
  authored: '2026-11-21T09:30:00Z',
};
const sampleResponse = (): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  questionnaire: `${SAMPLE_URL}|1`,
  status: 'completed',
  subject: { reference: `Patient/${patient}` },
  ...context,
  item: [
    { linkId: 'weight', answer: [{ valueDecimal: 72.5 }] },
    { linkId: 'smoker', answer: [{ valueBoolean: false }] },
    { linkId: 'mood', answer: [{ valueCoding: { system: 'http://example.org/mood', code: 'low', display: 'Low' } }] },
    { linkId: 'note', answer: [{ valueString: 'not extracted' }] },
    { linkId: 'nocode', answer: [{ valueInteger: 3 }] },
    { linkId: 'grp', item: [{ linkId: 'steps', answer: [{ valueInteger: 4200 }] }] },
    { linkId: 'skipped' },
  ],
});

beforeAll(async () => {
  s = await startTestServer();
  patient = await createPatient(s, 'female');
  for (const q of [sampleQuestionnaire, perCodeQuestionnaire]) expect((await s.fhir('Questionnaire', { method: 'POST', json: q })).status).toBe(201);
});
afterAll(async () => {
  await s?.close();
});

const observationCount = async () => (await (await s.fhir('Observation?_total=accurate&_count=0')).json()).total as number;

async function extract(path: string, init: { method: string; json?: unknown }): Promise<Observation[]> {
  const res = await s.fhir(path, init);
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.resourceType).toBe('Bundle');
  expect((body as Bundle).type).toBe('transaction');
  for (const e of body.entry ?? []) {
    expect(e.request).toEqual({ method: 'POST', url: 'Observation' });
    expect(e.fullUrl).toMatch(/^urn:uuid:/);
  }
  return (body.entry ?? []).map((e: { resource: Observation }) => e.resource);
}

const byCode = (obs: Observation[], code: string) => obs.filter((o) => o.code.coding?.some((c) => c.code === code));

describe('$extract (SDC observation-based extraction)', () => {
  test('type level with the response in the body: the rules, and nothing stored', async () => {
    const before = await observationCount();
    const obs = await extract('QuestionnaireResponse/$extract', { method: 'POST', json: sampleResponse() });
    expect(await observationCount()).toBe(before);
    // weight, smoker, mood, steps: not note (false), nocode (no code) or skipped (no answer).
    expect(obs.map((o) => o.code.coding?.[0]?.code).sort()).toEqual(['29463-7', 'mood', 'smoker', 'steps']);
    for (const o of obs) {
      expect(o.status).toBe('final');
      expect(o.subject).toEqual({ reference: `Patient/${patient}` });
      expect(o.encounter).toEqual(context.encounter);
      expect(o.basedOn).toEqual(context.basedOn);
      expect(o.partOf).toEqual(context.partOf);
      expect(o.performer).toEqual([context.author]);
      expect(o.effectiveDateTime).toBe(context.authored);
      // A response that is not stored has no id to point at.
      expect(o.derivedFrom).toBeUndefined();
    }
    const [weight] = byCode(obs, '29463-7');
    expect(weight.valueQuantity).toEqual({ value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' });
    expect(weight.code.coding).toEqual([{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }]);
    expect(weight.category?.[0]?.coding?.[0]?.code).toBe('vital-signs');
    expect(byCode(obs, 'smoker')[0].valueBoolean).toBe(false);
    expect(byCode(obs, 'mood')[0].valueCodeableConcept).toEqual({ coding: [{ system: 'http://example.org/mood', code: 'low', display: 'Low' }] });
    const [steps] = byCode(obs, 'steps');
    expect(steps.valueInteger).toBe(4200);
    // The item's own category overrides the root's.
    expect(steps.category?.[0]?.coding?.[0]?.code).toBe('activity');
  });

  test('type level with Parameters; a flag on one item.code extracts that code only', async () => {
    const response: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: 'http://example.org/Questionnaire/per-code|1',
      status: 'completed',
      subject: { reference: `Patient/${patient}` },
      item: [{ linkId: 'a', answer: [{ valueInteger: 5 }] }, { linkId: 'b', answer: [{ valueInteger: 6 }] }],
    };
    const obs = await extract('QuestionnaireResponse/$extract', { method: 'POST', json: { resourceType: 'Parameters', parameter: [{ name: 'questionnaire-response', resource: response }] } });
    expect(obs).toHaveLength(1);
    expect(obs[0].code.coding).toEqual([{ system: 'http://example.org/q', code: 'a-2' }]);
    expect(obs[0].valueInteger).toBe(5);
    expect(obs[0].category).toBeUndefined();
    expect(obs[0].effectiveDateTime).toBeUndefined();
  });

  test('instance level, GET and POST: derivedFrom points at the stored response', async () => {
    const created = await s.fhir('QuestionnaireResponse', { method: 'POST', json: { ...sampleResponse(), status: 'in-progress' } });
    expect(created.status).toBe(201);
    const id = (await created.json()).id;
    const before = await observationCount();
    for (const method of ['GET', 'POST']) {
      const obs = await extract(`QuestionnaireResponse/${id}/$extract`, { method });
      expect(obs).toHaveLength(4);
      for (const o of obs) expect(o.derivedFrom).toEqual([{ reference: `QuestionnaireResponse/${id}` }]);
    }
    expect(await observationCount()).toBe(before);
  });

  test('an instrument: item answers as codes, the total computed by the server (client value ignored)', async () => {
    const d = def('phq-9');
    const body = responseFor('phq-9', spread(d, 11), { subject: { reference: `Patient/${patient}` }, items: [{ linkId: '44261-6', answer: [{ valueInteger: 27 }] }] });
    const obs = await extract('QuestionnaireResponse/$extract', { method: 'POST', json: body });
    expect(obs).toHaveLength(10);
    const [total] = byCode(obs, '44261-6');
    expect(total.valueQuantity).toEqual({ value: 11, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' });
    expect(byCode(obs, '44250-9')[0].valueCodeableConcept?.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: 'LA6571-9' });
    for (const o of obs) expect(o.category?.[0]?.coding?.[0]?.code).toBe('survey');
  });

  test('bad requests: 400 naming the problem', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ resourceType: 'Parameters', parameter: [] }, 'POST', /questionnaire-response/],
      [{ resourceType: 'Patient' }, 'POST', /Expected a QuestionnaireResponse/],
      [{ ...sampleResponse(), questionnaire: undefined }, 'POST', /names no questionnaire/],
      [{ ...sampleResponse(), questionnaire: 'http://example.org/Questionnaire/nope|1' }, 'POST', /does not exist/],
      [{ ...sampleResponse(), item: [{ linkId: 'weight', answer: [{ valueString: 'heavy' }] }] }, 'POST', /'weight'/],
    ];
    for (const [json, method, diagnostics] of cases) {
      const res = await s.fhir('QuestionnaireResponse/$extract', { method, json });
      expect(res.status).toBe(400);
      expect((await res.json()).issue[0].diagnostics).toMatch(diagnostics);
    }
    expect((await s.fhir('QuestionnaireResponse/does-not-exist/$extract')).status).toBe(404);
  });

  test('the scoring hook extracts a completed custom questionnaire by the same rules', async () => {
    const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: sampleResponse() });
    expect(res.status).toBe(201);
    const id = (await res.json()).id;
    const stored = await (await s.fhir(`Observation?derived-from=QuestionnaireResponse/${id}`)).json();
    expect(stored.entry.map((e: { resource: Observation }) => e.resource.code.coding?.[0]?.code).sort()).toEqual(['29463-7', 'mood', 'smoker', 'steps']);
  });
});
