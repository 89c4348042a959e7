import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// FHIR strings may be up to 1 MB (R4 datatypes.html#string): long values are stored, read back
// as written and found by every string, token and uri search, never refused for their length.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

/**
 * A long text that differs from its siblings only after `at` characters. Pseudo-random words, so
 * that PostgreSQL cannot compress it below an index's size limit as it would a repeated string.
 */
function long(n: number, tag: string, at = n - 40, alphabet = 'abcdéfghijklmnöpqrstuvwxyz ÁB'): string {
  let x = 7;
  let base = '';
  while (base.length < at) {
    x = (x * 1103515245 + 12345) % 2147483648;
    base += alphabet[x % alphabet.length];
  }
  return (base.slice(0, at) + tag + 'x'.repeat(n)).slice(0, n);
}

async function ids(path: string): Promise<string[]> {
  const res = await s.fhir(path);
  expect(res.status).toBe(200);
  const b = await res.json();
  return (b.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
}

/** POST [type]/_search: a 10,000-character value does not fit in a request line. */
async function idsPosted(type: string, params: Record<string, string>): Promise<string[]> {
  const res = await s.fhir(`${type}/_search`, {
    method: 'POST',
    body: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(res.status).toBe(200);
  const b = await res.json();
  return (b.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
}

async function create(resource: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await s.fhir(String(resource.resourceType), { method: 'POST', json: resource });
  const body = await res.json();
  expect(res.status, JSON.stringify(body).slice(0, 300)).toBe(201);
  return body;
}

describe('long values are stored and read back as written', () => {
  test('a 16,000-character valueString, a 3,000-character identifier and family, a 10,000-character city', async () => {
    const note = long(16_000, 'NOTE');
    const obs = await create({ resourceType: 'Observation', status: 'final', code: { text: 'note' }, valueString: note });
    expect(obs.valueString).toBe(note);
    expect((await (await s.fhir(`Observation/${obs.id}`)).json()).valueString).toBe(note);

    const other = 'zyxwvutsrqponmlkjihgfedcba ';
    const value = long(3_000, 'ID-READ', 2_960, other);
    const family = long(3_000, 'FAM-READ', 2_960, other);
    const city = long(10_000, 'CITY-READ', 9_960, other);
    const p = await create({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value }], name: [{ family }], address: [{ city }] });
    const read = await (await s.fhir(`Patient/${p.id}`)).json();
    expect(read.identifier[0].value).toBe(value);
    expect(read.name[0].family).toBe(family);
    expect(read.address[0].city).toBe(city);
  });
});

describe('long values are found by search, exactly', () => {
  // Siblings share the first thousands of characters and differ only near the end: a search
  // that compared only a prefix would find both.
  const idA = long(3_000, 'ID-A');
  const idB = long(3_000, 'ID-B');
  const famA = long(3_000, 'FAM-A');
  const famB = long(3_000, 'FAM-B');
  const cityA = long(10_000, 'CITY-A');
  const cityB = long(10_000, 'CITY-B');
  const sys = `urn:x:${long(1_000, 'SYS', 990, 'abcdefghijklmnopqrstuvwxyz0123456789')}`;
  let a: string;
  let b: string;
  let short: string;
  beforeAll(async () => {
    a = (await create({ resourceType: 'Patient', identifier: [{ system: sys, value: idA }], name: [{ family: famA }], address: [{ city: cityA }] })).id;
    b = (await create({ resourceType: 'Patient', identifier: [{ system: sys, value: idB }], name: [{ family: famB }], address: [{ city: cityB }] })).id;
    short = (await create({ resourceType: 'Patient', identifier: [{ system: 'urn:short', value: 'S-1' }], name: [{ family: 'Shortname' }] })).id;
  });

  const q = encodeURIComponent;

  test('token: system|value and value alone, each finding only its own resource', async () => {
    expect(await ids(`Patient?identifier=${q(`${sys}|${idA}`)}`)).toEqual([a]);
    expect(await ids(`Patient?identifier=${q(idB)}`)).toEqual([b]);
    expect(await ids(`Patient?identifier=${q(`${sys}|`)}`)).toEqual([a, b].sort());
    expect(await ids(`Patient?identifier=${q(`${sys}|${idA.slice(0, -1)}`)}`)).toEqual([]);
    expect(await ids(`Patient?identifier=${q(`urn:short|S-1`)}`)).toEqual([short]);
    expect(await ids(`Patient?identifier=${q(idA)},S-1`)).toEqual([a, short].sort());
  });

  test('string: family:exact, and starts-with shorter and longer than any stored prefix', async () => {
    expect(await ids(`Patient?family:exact=${q(famA)}`)).toEqual([a]);
    expect(await ids(`Patient?family:exact=${q(famA.toLowerCase())}`)).toEqual([]);
    expect(await ids(`Patient?family=${q(famA.slice(0, 20))}`)).toEqual([a, b].sort());
    expect(await ids(`Patient?family=${q(famB.slice(0, 2_980).toUpperCase())}`)).toEqual([b]);
    expect(await ids(`Patient?family=${q(famB.slice(0, 2_955))}`)).toEqual([a, b].sort());
    expect(await ids(`Patient?family=${q(famA + 'y')}`)).toEqual([]);
    expect(await ids(`Patient?family=short`)).toEqual([short]);
  });

  test('string: :contains finds text far beyond any prefix; address-city exact and starts-with', async () => {
    expect(await ids(`Patient?family:contains=fam-b`)).toEqual([b]);
    expect(await ids(`Patient?address-city:contains=CITY-A`)).toEqual([a]);
    expect(await idsPosted('Patient', { 'address-city:exact': cityB })).toEqual([b]);
    expect(await idsPosted('Patient', { 'address-city': cityA.slice(0, 9_966) })).toEqual([a]);
    expect(await idsPosted('Patient', { 'address-city': cityA.slice(0, 9_950) })).toEqual([a, b].sort());
    expect(await ids(`Patient?family:contains=ortna`)).toEqual([short]);
  });

  test('_sort on a long string orders by the whole value', async () => {
    const res = await s.fhir(`Patient?family:contains=fam-a,fam-b&_sort=-family`);
    const got = (await res.json()).entry.map((e: { resource: { id: string } }) => e.resource.id);
    expect(got).toEqual([b, a]);
  });

  test('uri: a long url is found by equality and :below', async () => {
    const url = `http://example.org/${long(3_000, 'Q-A', 2_960, 'abcdefghijklmnopqrstuvwxyz0123456789/')}`;
    const other = `http://example.org/${long(3_000, 'Q-B', 2_960, 'abcdefghijklmnopqrstuvwxyz0123456789/')}`;
    const qa = await create({ resourceType: 'Questionnaire', status: 'active', url });
    await create({ resourceType: 'Questionnaire', status: 'active', url: other });
    expect(await ids(`Questionnaire?url=${q(url)}`)).toEqual([qa.id]);
    expect(await ids(`Questionnaire?url:below=${q(url.slice(0, 2_990))}`)).toEqual([qa.id]);
  });

  test('reference: an absolute reference longer than any index key is found by its url', async () => {
    const ref = `http://other.example/fhir/Patient/${long(3_000, 'R-A', 2_960, 'abcdefghijklmnopqrstuvwxyz0123456789')}`;
    const o = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: ref } });
    await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: ref.slice(0, -1) + 'Z' } });
    expect(await ids(`Observation?subject=${q(ref)}`)).toEqual([o.id]);
  });
});

describe('a database failure is never described to the client', () => {
  // A constraint only this test adds stands for any failure of the database under a write.
  beforeAll(async () => {
    await s.db.query(`ALTER TABLE idx_string ADD CONSTRAINT test_refuse_boom CHECK (norm <> 'boom')`);
  });
  afterAll(async () => {
    await s.db.query('ALTER TABLE idx_string DROP CONSTRAINT test_refuse_boom');
  });

  test('500 with a generic OperationOutcome, naming no table, index or constraint', async () => {
    for (const path of ['Patient', '']) {
      const json =
        path === ''
          ? { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', name: [{ family: 'Boom' }] }, request: { method: 'POST', url: 'Patient' } }] }
          : { resourceType: 'Patient', name: [{ family: 'Boom' }] };
      const res = await s.fhir(path, { method: 'POST', json });
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(JSON.parse(text).resourceType).toBe('OperationOutcome');
      expect(text).not.toMatch(/idx_|constraint|relation|boom/i);
    }
  });
});
