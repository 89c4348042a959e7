import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// Real data: the first Synthea R4 transaction bundles of the benchmark sample, copied into the
// repository (test/fixtures, Apache-2.0, its LICENSE beside it) so the test needs nothing outside it; loaded through
// the transaction endpoint, then searched. Expected answers are computed here from the source
// JSON with plain code, independently of the server's indexes.
const DATA = join(import.meta.dirname, '../fixtures/synthea-r4-8-bundles.ndjson.gz');
const BUNDLES = 8;

type Res = Record<string, any>;
let s: TestServer;
const source: Res[] = [];
const idByFullUrl = new Map<string, string>();

beforeAll(async () => {
  if (!existsSync(DATA)) throw new Error(`Synthea sample not found at ${DATA}`);
  s = await startTestServer();
  const rl = createInterface({ input: createReadStream(DATA).pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    const bundle = JSON.parse(line);
    const res = await s.fhir('', { method: 'POST', json: bundle });
    expect(res.status).toBe(200);
    const out = await res.json();
    bundle.entry.forEach((e: Res, i: number) => {
      source.push(e.resource);
      idByFullUrl.set(e.fullUrl, out.entry[i].resource.id);
    });
    if (++n === BUNDLES) break;
  }
}, 300_000);
afterAll(async () => {
  await s?.close();
});

async function all(query: string): Promise<Res[]> {
  const out: Res[] = [];
  let url: string | undefined = `${query}${query.includes('?') ? '&' : '?'}_count=200`;
  while (url) {
    const b: Res = await (await s.fhir(url)).json();
    expect(b.resourceType, JSON.stringify(b).slice(0, 300)).toBe('Bundle');
    out.push(...(b.entry ?? []).filter((e: Res) => e.search?.mode !== 'include').map((e: Res) => e.resource));
    url = b.link?.find((l: Res) => l.relation === 'next')?.url;
  }
  return out;
}

const of = (type: string) => source.filter((r) => r.resourceType === type);
const localId = (ref: string) => idByFullUrl.get(ref);

describe('Synthea sample through transactions', () => {
  test('every resource was stored', async () => {
    const counts = new Map<string, number>();
    for (const r of source) counts.set(r.resourceType, (counts.get(r.resourceType) ?? 0) + 1);
    for (const [type, n] of counts) {
      const b = await (await s.fhir(`${type}?_total=accurate&_count=0`)).json();
      expect(b.total, type).toBe(n);
    }
  });

  test('token: Observation?code= matches the count of observations with that LOINC code', async () => {
    const codes = new Map<string, number>();
    for (const o of of('Observation')) {
      const seen = new Set<string>();
      for (const c of o.code.coding) if (c.system === 'http://loinc.org') seen.add(c.code);
      for (const c of seen) codes.set(c, (codes.get(c) ?? 0) + 1);
    }
    const common = [...codes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    for (const [code, n] of common) {
      expect((await all(`Observation?code=http://loinc.org|${code}`)).length, code).toBe(n);
    }
  });

  test('reference + date: Encounter?patient=&date=ge matches a hand filter', async () => {
    const fullUrl = `urn:uuid:${of('Patient')[0].id}`;
    const pid = localId(fullUrl);
    expect(pid).toBeDefined();
    // Encounter.period as a range [start, end]; ge 2015-01-01 means the range reaches 2015 or later.
    const expected = of('Encounter').filter(
      (e) => e.subject.reference === fullUrl && (e.period?.end ?? e.period?.start) >= '2015-01-01'
    ).length;
    const got = await all(`Encounter?patient=Patient/${pid}&date=ge2015-01-01`);
    expect(got.length).toBe(expected);
  });

  test('string: Patient?family= is a case-insensitive prefix match', async () => {
    const family: string = of('Patient')[1].name[0].family;
    const prefix = family.slice(0, 3).toUpperCase();
    const expected = of('Patient').filter((p) =>
      p.name.some((n: Res) => (n.family ?? '').toLowerCase().startsWith(prefix.toLowerCase()))
    ).length;
    expect((await all(`Patient?family=${encodeURIComponent(prefix)}`)).length).toBe(expected);
  });

  test('quantity: Observation?value-quantity=gt with system|code', async () => {
    // Body weight in kg above 80 (LOINC 29463-7), compared with the same filter in code.
    const expected = of('Observation').filter(
      (o) => o.code.coding.some((c: Res) => c.code === '29463-7') && o.valueQuantity?.code === 'kg' && o.valueQuantity.value > 80
    ).length;
    const got = await all('Observation?code=29463-7&value-quantity=gt80|http://unitsofmeasure.org|kg');
    expect(got.length).toBe(expected);
  });

  test('chain and _include: observations of a patient found by identifier, with the patient', async () => {
    const patient = of('Patient')[2];
    const ident = patient.identifier.find((i: Res) => i.system === 'https://github.com/synthetichealth/synthea');
    const fullUrl = `urn:uuid:${patient.id}`;
    const expected = of('Observation').filter((o) => o.subject.reference === fullUrl).length;
    const got = await all(`Observation?subject:Patient.identifier=${encodeURIComponent(`${ident.system}|${ident.value}`)}`);
    expect(got.length).toBe(expected);
    const b = await (await s.fhir(`Observation?subject:Patient.identifier=${encodeURIComponent(`${ident.system}|${ident.value}`)}&_count=5&_include=Observation:subject`)).json();
    const included = b.entry.filter((e: Res) => e.search?.mode === 'include');
    expect(included).toHaveLength(1);
    expect(included[0].resource.id).toBe(localId(fullUrl));
  });

  test('_sort=-date returns observations newest first', async () => {
    const pid = localId(`urn:uuid:${of('Patient')[0].id}`);
    const got = await all(`Observation?patient=Patient/${pid}&code=http://loinc.org|8302-2&_sort=-date`);
    const dates = got.map((o) => o.effectiveDateTime);
    expect(dates.length).toBeGreaterThan(0);
    expect(dates).toEqual([...dates].sort().reverse());
  });
});
