import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// R4 datatypes.html#decimal: "the precision of the decimal value is significant" — 12.50 is not
// 12.5. A decimal goes back out with the text it came in with, wherever the resource goes.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const DECIMALS = ['12.50', '123456789012345678901234567890', '1.000', '0.10', '-0.0', '1.5e3'];

/** A FHIR JSON body whose value is the decimal text as written (JSON.stringify cannot say 12.50). */
function observationJson(value: string, extra = ''): string {
  return `{"resourceType":"Observation","status":"final","code":{"text":"weight"}${extra},"valueQuantity":{"value":${value},"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"},"component":[{"code":{"text":"c"},"valueQuantity":{"value":${value}}}]}`;
}

/** The decimal texts of every "value" in a response body, in order. */
function valuesIn(text: string): string[] {
  return [...text.matchAll(/"value":\s*(-?[0-9][0-9.eE+-]*)/g)].map((m) => m[1]);
}

async function post(path: string, body: string): Promise<Response> {
  return s.fhir(path, { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
}

describe('a decimal keeps its text from request to response', () => {
  test.each(DECIMALS)('%s: create, read, search, history, update, vread', async (value) => {
    const created = await post('Observation', observationJson(value));
    const createdText = await created.text();
    expect(created.status, createdText).toBe(201);
    expect(valuesIn(createdText)).toEqual([value, value]);
    const id = JSON.parse(createdText).id;

    expect(valuesIn(await (await s.fhir(`Observation/${id}`)).text())).toEqual([value, value]);
    expect(valuesIn(await (await s.fhir(`Observation?_id=${id}`)).text())).toEqual([value, value]);

    const updated = await s.fhir(`Observation/${id}`, { method: 'PUT', body: observationJson(value, `,"id":"${id}","issued":"2024-01-01T00:00:00Z"`), headers: { 'content-type': 'application/fhir+json' } });
    const updatedText = await updated.text();
    expect(updated.status, updatedText).toBe(200);
    expect(valuesIn(updatedText)).toEqual([value, value]);

    const history = await (await s.fhir(`Observation/${id}/_history`)).text();
    expect(valuesIn(history)).toEqual([value, value, value, value]);
    expect(valuesIn(await (await s.fhir(`Observation/${id}/_history/1`)).text())).toEqual([value, value]);
  });

  test('a transaction keeps each entry its own text, urn:uuid references rewritten', async () => {
    const entry = (value: string, n: number) =>
      `{"fullUrl":"urn:uuid:0000000${n}-0000-4000-8000-000000000000","resource":${observationJson(value, ',"subject":{"reference":"urn:uuid:00000009-0000-4000-8000-000000000000"}')},"request":{"method":"POST","url":"Observation"}}`;
    const patient = `{"fullUrl":"urn:uuid:00000009-0000-4000-8000-000000000000","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}`;
    const body = `{"resourceType":"Bundle","type":"transaction","entry":[${patient},${entry('12.50', 1)},${entry('12.5', 2)},${entry('0.10', 3)}]}`;
    const res = await post('', body);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(valuesIn(text)).toEqual(['12.50', '12.50', '12.5', '12.5', '0.10', '0.10']);
    const ids = JSON.parse(text).entry.slice(1).map((e: { resource: { id: string } }) => e.resource.id);
    const reads = await Promise.all(ids.map(async (id: string) => valuesIn(await (await s.fhir(`Observation/${id}`)).text())));
    expect(reads).toEqual([['12.50', '12.50'], ['12.5', '12.5'], ['0.10', '0.10']]);
  });

  test('JSON Patch: a value it adds keeps its text, the others theirs', async () => {
    const id = JSON.parse(await (await post('Observation', observationJson('1.000'))).text()).id;
    const res = await s.fhir(`Observation/${id}`, {
      method: 'PATCH',
      body: '[{"op":"replace","path":"/component/0/valueQuantity/value","value":2.50}]',
      headers: { 'content-type': 'application/json-patch+json' },
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(valuesIn(text)).toEqual(['1.000', '2.50']);
    expect(valuesIn(await (await s.fhir(`Observation/${id}`)).text())).toEqual(['1.000', '2.50']);
  });

  test('FHIRPath Patch: replace and add keep the text of the decimal they put', async () => {
    const created = await post('Observation', '{"resourceType":"Observation","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":1.000}}]}');
    const id = JSON.parse(await created.text()).id;
    const op = (type: string, path: string, value: string, name?: string) =>
      `{"name":"operation","part":[{"name":"type","valueCode":"${type}"},{"name":"path","valueString":"${path}"}${name ? `,{"name":"name","valueString":"${name}"}` : ''},{"name":"value",${value}}]}`;
    const ops = [op('replace', 'Observation.referenceRange.low.value', '"valueDecimal":3.10'), op('add', 'Observation.referenceRange', '"valueQuantity":{"value":9.90}', 'high')];
    const body = `{"resourceType":"Parameters","parameter":[${ops.join(',')}]}`;
    const res = await s.fhir(`Observation/${id}`, { method: 'PATCH', body, headers: { 'content-type': 'application/fhir+json' } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(valuesIn(text)).toEqual(['3.10', '9.90']);
    expect(valuesIn(await (await s.fhir(`Observation/${id}`)).text())).toEqual(['3.10', '9.90']);
  });
});

describe('search compares decimals by value', () => {
  test('value-quantity=12.5 finds 12.50; a 30-digit value is indexed exactly', async () => {
    const twelve = JSON.parse(await (await post('Observation', observationJson('12.50', ',"identifier":[{"value":"dec-a"}]'))).text()).id;
    const big = JSON.parse(await (await post('Observation', observationJson('123456789012345678901234567890', ',"identifier":[{"value":"dec-a"}]'))).text()).id;
    const found = async (q: string) =>
      ((await (await s.fhir(`Observation?identifier=dec-a&${q}`)).json()).entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
    expect(await found('value-quantity=12.5')).toEqual([twelve]);
    expect(await found('value-quantity=12.50')).toEqual([twelve]);
    expect(await found('value-quantity=123456789012345678901234567890')).toEqual([big]);
    expect(await found('value-quantity=123456789012345678901234567891')).toEqual([]);
    expect(await found('value-quantity=gt123456789012345678901234567889')).toEqual([big]);
  });
});
