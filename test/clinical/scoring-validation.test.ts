import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { createPatient, def, derived, responseFor, spread, totalOf } from './instruments-fixtures.ts';

let s: TestServer;
let patient: string;
beforeAll(async () => {
  s = await startTestServer();
  patient = await createPatient(s, 'male');
});
afterAll(async () => {
  await s?.close();
});

const count = async (type: string) => (await (await s.fhir(`${type}?_total=accurate&_count=0`)).json()).total as number;

/** POSTs a response that must be refused: 400, the expected expression and linkId, nothing stored. */
async function refused(body: QuestionnaireResponse, expression: string, diagnostics: RegExp) {
  const before = [await count('QuestionnaireResponse'), await count('Observation')];
  const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: { ...body, subject: { reference: `Patient/${patient}` } } });
  const o = await res.json();
  expect(res.status, JSON.stringify(o)).toBe(400);
  expect(o.resourceType).toBe('OperationOutcome');
  expect(o.issue[0].expression).toEqual([expression]);
  expect(o.issue[0].diagnostics).toMatch(diagnostics);
  expect(JSON.stringify(o)).not.toMatch(/at .*\.ts:|SELECT|INSERT/);
  expect([await count('QuestionnaireResponse'), await count('Observation')]).toEqual(before);
}

const phq9 = () => responseFor('phq-9', spread(def('phq-9'), 7));

describe('invalid responses get 400 naming the item, and nothing is stored', () => {
  test('an answer outside the option list', async () => {
    const body = phq9();
    (body.item as NonNullable<QuestionnaireResponse['item']>)[2].answer = [{ valueCoding: { system: 'http://loinc.org', code: 'LA9999-9' } }];
    await refused(body, 'QuestionnaireResponse.item[2].answer[0]', /'44259-0'/);
  });

  test('a coding from another system is outside the list too', async () => {
    const body = phq9();
    (body.item as NonNullable<QuestionnaireResponse['item']>)[0].answer = [{ valueCoding: { system: 'http://example.org', code: 'LA6568-5' } }];
    await refused(body, 'QuestionnaireResponse.item[0].answer[0]', /'44250-9'/);
  });

  test('the wrong answer type', async () => {
    const body = phq9();
    (body.item as NonNullable<QuestionnaireResponse['item']>)[4].answer = [{ valueInteger: 2 }];
    await refused(body, 'QuestionnaireResponse.item[4].answer[0]', /'44251-7'.*valueCoding.*valueInteger/);
  });

  test('a missing required item when completed', async () => {
    const body = phq9();
    body.item = body.item?.filter((i) => i.linkId !== '44253-3');
    await refused(body, "QuestionnaireResponse.item.where(linkId='44253-3')", /'44253-3'/);
    // An empty answer list is missing too.
    const empty = phq9();
    (empty.item as NonNullable<QuestionnaireResponse['item']>)[1].answer = [];
    await refused(empty, 'QuestionnaireResponse.item[1]', /'44255-8'/);
  });

  test('an unknown linkId', async () => {
    const body = phq9();
    body.item?.push({ linkId: 'not-an-item', answer: [{ valueString: 'x' }] });
    await refused(body, 'QuestionnaireResponse.item[9]', /'not-an-item'/);
  });

  test('two answers to a question that does not repeat', async () => {
    const body = phq9();
    const first = (body.item as NonNullable<QuestionnaireResponse['item']>)[0];
    first.answer = [...(first.answer ?? []), ...(first.answer ?? [])];
    await refused(body, 'QuestionnaireResponse.item[0].answer[1]', /'44250-9'/);
  });

  test('a questionnaire url|version that does not exist in the tenant', async () => {
    await refused({ ...phq9(), questionnaire: `${def('phq-9').url}|9.9.9` }, 'QuestionnaireResponse.questionnaire', /9\.9\.9.*does not exist/);
    await refused({ ...phq9(), questionnaire: 'http://example.org/Questionnaire/none' }, 'QuestionnaireResponse.questionnaire', /does not exist/);
  });

  test('another tenant does not see this tenant\'s questionnaires; each tenant has its own', async () => {
    // Tenant "other" was created by the test server (createTenant), so it has the instruments too.
    const token = await s.token('system/*.cruds', 'other');
    const p = await createPatient(s, 'female', token);
    const res = await s.fhir('QuestionnaireResponse', { method: 'POST', token, json: responseFor('phq-9', spread(def('phq-9'), 12), { subject: { reference: `Patient/${p}` } }) });
    expect(res.status).toBe(201);
    expect(totalOf(def('phq-9'), await derived(s, (await res.json()).id, 'final', token))[0].valueQuantity?.value).toBe(12);
  });

  test('an unversioned canonical resolves to the version in the tenant', async () => {
    const res = await s.fhir('QuestionnaireResponse', { method: 'POST', json: { ...phq9(), questionnaire: def('phq-9').url, subject: { reference: `Patient/${patient}` } } });
    expect(res.status).toBe(201);
  });

  test('in a transaction Bundle: an invalid response fails the whole Bundle; a valid one is scored in it', async () => {
    const bad = phq9();
    (bad.item as NonNullable<QuestionnaireResponse['item']>)[3].answer = [{ valueCoding: { system: 'http://loinc.org', code: 'LA1-1' } }];
    const before = [await count('Patient'), await count('QuestionnaireResponse'), await count('Observation')];
    const bundle = (qr: QuestionnaireResponse) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6f1e3c1a-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', gender: 'male' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { ...qr, subject: { reference: 'urn:uuid:6f1e3c1a-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'QuestionnaireResponse' } },
      ],
    });
    const res = await s.fhir('', { method: 'POST', json: bundle(bad) });
    expect(res.status).toBe(400);
    expect([await count('Patient'), await count('QuestionnaireResponse'), await count('Observation')]).toEqual(before);
    const ok = await s.fhir('', { method: 'POST', json: bundle(phq9()) });
    expect(ok.status).toBe(200);
    const location = (await ok.json()).entry[1].response.location as string;
    const id = location.split('/')[1];
    const total = totalOf(def('phq-9'), await derived(s, id))[0];
    expect(total.valueQuantity?.value).toBe(7);
    expect(total.subject?.reference).toMatch(/^Patient\/[A-Za-z0-9-]+$/);
  });
});
