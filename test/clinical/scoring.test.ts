import type { Observation, QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RISK_FLAG_SYSTEM, SEVERITY_SYSTEM, profileUrl } from '../../server/src/clinical/codes.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { ORDINAL, codingFor, createPatient, def, derived, responseFor, spread, totalOf } from './instruments-fixtures.ts';

let s: TestServer;
let patient: string;
beforeAll(async () => {
  s = await startTestServer();
  patient = await createPatient(s, 'female');
});
afterAll(async () => {
  await s?.close();
});

async function submit(name: string, scores: number[], extra: Partial<QuestionnaireResponse> = {}, subject = patient) {
  const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: responseFor(name, scores, { subject: { reference: `Patient/${subject}` }, ...extra }) });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  const observations = await derived(s, body.id);
  const totals = totalOf(def(name), observations);
  expect(totals).toHaveLength(1);
  return { response: body as QuestionnaireResponse, observations, total: totals[0] };
}

const band = (o: Observation) => o.interpretation?.[0]?.coding?.find((c) => c.system === SEVERITY_SYSTEM)?.code;
const flags = (o: Observation) => (o.meta?.tag ?? []).filter((t) => t.system === RISK_FLAG_SYSTEM).map((t) => t.code);

// Every boundary of every band (questionnaires/README.md; publishers cited in each file).
const BOUNDARIES: [string, [number, string][]][] = [
  ['phq-9', [[0, 'minimal'], [4, 'minimal'], [5, 'mild'], [9, 'mild'], [10, 'moderate'], [14, 'moderate'], [15, 'moderately-severe'], [19, 'moderately-severe'], [20, 'severe'], [27, 'severe']]],
  ['phq-a', [[0, 'minimal'], [4, 'minimal'], [5, 'mild'], [9, 'mild'], [10, 'moderate'], [14, 'moderate'], [15, 'moderately-severe'], [19, 'moderately-severe'], [20, 'severe'], [27, 'severe']]],
  ['gad-7', [[0, 'minimal'], [4, 'minimal'], [5, 'mild'], [9, 'mild'], [10, 'moderate'], [14, 'moderate'], [15, 'severe'], [21, 'severe']]],
  ['phq-2', [[0, 'negative'], [2, 'negative'], [3, 'positive'], [6, 'positive']]],
  ['pcl-5', [[0, 'below-cutpoint'], [30, 'below-cutpoint'], [31, 'within-cutpoint-range'], [32, 'within-cutpoint-range'], [33, 'probable-ptsd'], [80, 'probable-ptsd']]],
];

describe('scoring on save: totals and bands at every boundary', () => {
  for (const [name, cases] of BOUNDARIES) {
    test(`${name}: ${cases.map((c) => c[0]).join(', ')}`, async () => {
      for (const [total, expected] of cases) {
        const { response, total: obs, observations } = await submit(name, spread(def(name), total));
        expect(obs.valueQuantity).toEqual({ value: total, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' });
        expect(band(obs), `${name} ${total}`).toBe(expected);
        expect(obs.status).toBe('final');
        expect(obs.meta?.profile).toEqual([profileUrl('assessment-score')]);
        expect(obs.category?.[0]?.coding?.[0]?.code).toBe('survey');
        expect(obs.effectiveDateTime).toBe('2026-11-20T10:00:00Z');
        expect(obs.subject?.reference).toBe(`Patient/${patient}`);
        expect(obs.derivedFrom).toEqual([{ reference: `QuestionnaireResponse/${response.id}` }]);
        // The stored response carries the server's total.
        const stored = response.item?.find((i) => i.linkId === def(name).totalLinkId);
        expect(stored?.answer).toEqual([{ valueInteger: total }]);
        // One Observation per answered scored item, plus the total.
        expect(observations).toHaveLength(def(name).scoredLinkIds.length + 1);
      }
    });
  }

  test('AUDIT-C by sex: >= 4 men, >= 3 women, >= 3 when unknown', async () => {
    const male = await createPatient(s, 'male');
    const female = await createPatient(s, 'female');
    const other = await createPatient(s, 'other');
    const none = await createPatient(s);
    const d = def('audit-c');
    const cases: [string, number, string][] = [
      [male, 0, 'negative'], [male, 3, 'negative'], [male, 4, 'positive'], [male, 12, 'positive'],
      [female, 0, 'negative'], [female, 2, 'negative'], [female, 3, 'positive'], [female, 12, 'positive'],
      [other, 2, 'negative'], [other, 3, 'positive'], [none, 2, 'negative'], [none, 3, 'positive'],
    ];
    for (const [who, total, expected] of cases) {
      const { total: obs } = await submit('audit-c', spread(d, total), {}, who);
      expect(obs.valueQuantity?.value).toBe(total);
      expect(band(obs), `${who} ${total}`).toBe(expected);
    }
    const { total: unknown } = await submit('audit-c', spread(d, 3), {}, none);
    expect(unknown.interpretation?.[0]?.text).toMatch(/sex unknown/);
  });

  test('ASQ: negative, non-acute positive, acute positive (NIMH toolkit)', async () => {
    const d = def('asq');
    const yes = (id: string) => ({ linkId: id, answer: [{ valueCoding: codingFor(d, id, 1) }] });
    const no = (id: string) => ({ linkId: id, answer: [{ valueCoding: codingFor(d, id, 0) }] });
    const negative = await submit('asq', [0, 0, 0, 0]);
    expect(band(negative.total)).toBe('negative');
    expect(flags(negative.total)).toEqual([]);
    const nonAcute = await submit('asq', [0, 0, 0, 1], { item: [no('asq-1'), no('asq-2'), no('asq-3'), yes('asq-4'), no('asq-5')] });
    expect(band(nonAcute.total)).toBe('non-acute-positive');
    expect(flags(nonAcute.total)).toEqual(['suicide-risk']);
    const acute = await submit('asq', [1, 0, 0, 0], { item: [yes('asq-1'), no('asq-2'), no('asq-3'), no('asq-4'), yes('asq-5')] });
    expect(band(acute.total)).toBe('acute-positive');
    expect(flags(acute.total)).toEqual(['suicide-risk', 'acute']);
    // Question 5 is required once any of 1-4 is yes ...
    const missing = await s.fhir('QuestionnaireResponse', { method: 'POST', json: responseFor('asq', [1, 0, 0, 0]) });
    expect(missing.status).toBe(400);
    expect((await missing.json()).issue[0].diagnostics).toMatch(/asq-5/);
    // ... and may not be answered when all are no.
    const disabled = await s.fhir('QuestionnaireResponse', { method: 'POST', json: responseFor('asq', [0, 0, 0, 0], { item: [no('asq-1'), no('asq-2'), no('asq-3'), no('asq-4'), yes('asq-5')] }) });
    expect(disabled.status).toBe(400);
  });
});

describe('risk findings are findable', () => {
  test('PHQ-9 item 9 > 0 flags the item and the total; item 9 = 0 does not', async () => {
    const d = def('phq-9');
    const risky = await submit('phq-9', [0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const item9 = risky.observations.find((o) => o.code.coding?.[0]?.code === '44260-8') as Observation;
    expect(flags(item9)).toEqual(['suicide-risk']);
    expect(item9.interpretation?.[0]?.coding?.[0]).toMatchObject({ system: RISK_FLAG_SYSTEM, code: 'suicide-risk' });
    expect(flags(risky.total)).toEqual(['suicide-risk']);
    expect(band(risky.total)).toBe('minimal');
    const calm = await submit('phq-9', [3, 3, 3, 3, 3, 3, 3, 3, 0]);
    expect(calm.observations.flatMap(flags)).toEqual([]);
    const found = await (await s.fhir(`Observation?_tag=${encodeURIComponent(`${RISK_FLAG_SYSTEM}|suicide-risk`)}&derived-from=QuestionnaireResponse/${risky.response.id}`)).json();
    expect(found.entry.map((e: { resource: Observation }) => e.resource.code.coding?.[0]?.code).sort()).toEqual(['44260-8', d.totalCode.code].sort());
  });

  test('PHQ-A: item 9 > 0 or a yes to past-month thoughts / lifetime attempt', async () => {
    const d = def('phq-a');
    const yesTo = (id: string) => ({ linkId: id, answer: [{ valueCoding: { system: 'http://loinc.org', code: 'LA33-6' } }] });
    expect(flags((await submit('phq-a', [0, 0, 0, 0, 0, 0, 0, 0, 0])).total)).toEqual([]);
    expect(flags((await submit('phq-a', [0, 0, 0, 0, 0, 0, 0, 0, 2])).total)).toEqual(['suicide-risk']);
    const r = await s.fhir('QuestionnaireResponse', { method: 'POST', json: responseFor('phq-a', spread(d, 0), { items: [yesTo('phq-a-13')], subject: { reference: `Patient/${patient}` } }) });
    const noSubject = await s.fhir('QuestionnaireResponse', { method: 'POST', json: responseFor('phq-a', spread(d, 0)) });
    expect(noSubject.status).toBe(400);
    expect((await noSubject.json()).issue[0].expression).toEqual(['QuestionnaireResponse.subject']);
    expect(r.status).toBe(201);
    expect(flags(totalOf(d, await derived(s, (await r.json()).id))[0])).toEqual(['suicide-risk']);
  });
});

describe('the client never decides the score', () => {
  test('a total sent by the client and ordinal values embedded in its answers are ignored', async () => {
    const d = def('phq-9');
    const body = responseFor('phq-9', [0, 0, 0, 0, 0, 0, 0, 0, 0], { items: [{ linkId: '44261-6', answer: [{ valueInteger: 27 }] }] });
    // Every answer claims an ordinal value of 3.
    for (const item of body.item ?? []) {
      for (const a of item.answer ?? []) if (a.valueCoding) a.valueCoding.extension = [{ url: ORDINAL, valueDecimal: 3 }];
    }
    const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: { ...body, subject: { reference: `Patient/${patient}` } } });
    expect(res.status).toBe(201);
    const stored = await res.json();
    expect(stored.item.filter((i: { linkId: string }) => i.linkId === '44261-6')).toEqual([{ linkId: '44261-6', answer: [{ valueInteger: 0 }] }]);
    const total = totalOf(d, await derived(s, stored.id))[0];
    expect(total.valueQuantity?.value).toBe(0);
    expect(band(total)).toBe('minimal');
  });

  test('in-progress responses are checked but not scored', async () => {
    const partial = responseFor('gad-7', spread(def('gad-7'), 2), { status: 'in-progress' });
    partial.item = partial.item?.slice(0, 2);
    const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: partial });
    expect(res.status).toBe(201);
    expect(await derived(s, (await res.json()).id, 'final,amended,entered-in-error,preliminary')).toEqual([]);
  });
});

describe('amending supersedes', () => {
  test('an update marks the old Observations entered-in-error and creates amended ones', async () => {
    const d = def('gad-7');
    const first = await submit('gad-7', spread(d, 12));
    expect(band(first.total)).toBe('moderate');
    const put = await s.fhir(`QuestionnaireResponse/${first.response.id}`, {
      method: 'PUT',
      json: responseFor('gad-7', spread(d, 3), { id: first.response.id, status: 'amended', subject: { reference: `Patient/${patient}` } }),
    });
    expect(put.status).toBe(200);
    const current = await derived(s, first.response.id as string);
    const totals = totalOf(d, current);
    expect(totals).toHaveLength(1);
    expect(totals[0].status).toBe('amended');
    expect(totals[0].valueQuantity?.value).toBe(3);
    expect(band(totals[0])).toBe('minimal');
    expect(current).toHaveLength(d.scoredLinkIds.length + 1);
    const old = await derived(s, first.response.id as string, 'entered-in-error');
    expect(old.map((o) => o.id).sort()).toEqual(first.observations.map((o) => o.id).sort());
    // An update of a completed response (status still completed) also supersedes.
    const again = await s.fhir(`QuestionnaireResponse/${first.response.id}`, {
      method: 'PUT',
      json: responseFor('gad-7', spread(d, 21), { id: first.response.id, subject: { reference: `Patient/${patient}` } }),
    });
    expect(again.status).toBe(200);
    const latest = totalOf(d, await derived(s, first.response.id as string));
    expect(latest.map((o) => [o.status, o.valueQuantity?.value])).toEqual([['amended', 21]]);
    // Deleting the response withdraws its Observations.
    expect((await s.fhir(`QuestionnaireResponse/${first.response.id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    expect(await derived(s, first.response.id as string)).toEqual([]);
  });
});

describe('the derived Observations are the server\'s work', () => {
  test('a patient app that may write its own responses gets its scores without any Observation write right', async () => {
    // Scores come from the server (never the client), so a client that may submit a response
    // does not need, and should not have, the right to write Observations itself.
    const p = await createPatient(s, 'female');
    const other = await createPatient(s, 'male');
    const body = responseFor('phq-9', spread(def('phq-9'), 5), { subject: { reference: `Patient/${p}` } });
    const narrow = await s.personToken({ scope: 'patient/QuestionnaireResponse.cru patient/Questionnaire.rs patient/Observation.rs', patient: p, fhirUser: `Patient/${p}`, roles: ['patient'] });
    const ok = await s.fhir('QuestionnaireResponse', { method: 'POST', token: narrow, json: body });
    expect(ok.status).toBe(201);
    expect(totalOf(def('phq-9'), await derived(s, (await ok.json()).id))[0].valueQuantity?.value).toBe(5);
    // The patient still cannot write an Observation directly ...
    const direct = await s.fhir('Observation', { method: 'POST', token: narrow, json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p}` } } });
    expect(direct.status).toBe(403);
    // ... nor submit a response about another patient to get scores written there.
    const elsewhere = await s.fhir('QuestionnaireResponse', { method: 'POST', token: narrow, json: { ...body, subject: { reference: `Patient/${other}` } } });
    expect(elsewhere.status).toBeGreaterThanOrEqual(403);
    expect((await (await s.fhir(`Observation?subject=Patient/${other}&_total=accurate`)).json()).total).toBe(0);
  });
});
