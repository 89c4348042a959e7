import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessPolicy, policyFor } from '../../access/policy.ts';
import { testedLate } from './access.ts';
import { type Fixture, openFixture } from './test-fixture.ts';

/**
 * A clinician with a large caseload (more than access.ts FEW_PATIENTS) has the access test run on
 * the page's candidates in page order (query.ts `pageQuery` with `late`) instead of on the
 * resource scan. Whatever the place of the test, a search answers the same: exactly the records
 * of the treated patients that carry no restricting label, in order, page after page, with the
 * same totals; a small caseload (the test on the scan) answers alike.
 */
let fx: Fixture;
const PATIENTS = 30;
const TREATED_MANY = 25;
const TREATED_FEW = 5;
const pid = (i: number) => `p${String(i).padStart(2, '0')}`;
/** Observations as written: id, patient index, code, date, restricted label. */
const written: { id: string; p: number; code: string; date: string; restricted: boolean }[] = [];
let many: AccessPolicy;
let few: AccessPolicy;

async function clinician(id: string, treated: number): Promise<AccessPolicy> {
  await fx.create({ resourceType: 'Practitioner', id });
  for (let i = 0; i < treated; i++) {
    await fx.create({
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: `Patient/${pid(i)}` },
      participant: [{ member: { reference: `Practitioner/${id}` } }],
    });
  }
  return policyFor({ tenant: 't1', clientId: 'app', scope: 'user/*.rs', userId: id, fhirUser: `Practitioner/${id}`, roles: ['clinician'] }, fx.db);
}

beforeAll(async () => {
  fx = await openFixture();
  for (let i = 0; i < PATIENTS; i++) {
    await fx.create({ resourceType: 'Patient', id: pid(i), name: [{ family: `F${i}` }] });
    for (let k = 0; k < 3; k++) {
      const o = { id: `o-${pid(i)}-${k}`, p: i, code: k === 2 ? 'c2' : 'c1', date: `202${k}-0${1 + (i % 9)}-1${i % 10}`, restricted: i % 7 === 3 && k === 0 };
      written.push(o);
      const resource: Observation = {
        resourceType: 'Observation',
        id: o.id,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: o.code }] },
        subject: { reference: `Patient/${pid(i)}` },
        effectiveDateTime: o.date,
        ...(o.restricted ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } } : {}),
      };
      await fx.create(resource);
    }
  }
  many = await clinician('dr-many', TREATED_MANY);
  few = await clinician('dr-few', TREATED_FEW);
}, 120_000);
afterAll(() => fx?.close());

const visible = (treated: number, pick: (o: (typeof written)[number]) => boolean) =>
  written.filter((o) => o.p < treated && !o.restricted && pick(o));

/** Every page of a search, following its next links. */
async function allPages(access: AccessPolicy, type: string, query: string): Promise<{ ids: string[]; pages: number; updated: string[] }> {
  const ids: string[] = [];
  const updated: string[] = [];
  let q: string | undefined = query;
  let pages = 0;
  while (q !== undefined && pages < 50) {
    const b: Bundle = await fx.search(type, q, { access, defaultCount: 20 });
    const matches = (b.entry ?? []).filter((e) => e.search?.mode === 'match');
    ids.push(...matches.map((e) => e.resource?.id as string));
    updated.push(...matches.map((e) => e.resource?.meta?.lastUpdated as string));
    pages++;
    const next = b.link?.find((l) => l.relation === 'next')?.url;
    q = next ? new URL(next).search.slice(1) : undefined;
  }
  return { ids, pages, updated };
}

describe('the access test on the page candidates (large caseload)', () => {
  it('is the path a large caseload takes, and a small one does not', () => {
    expect(testedLate(many, ['Observation'], 's')).toBe(true);
    expect(testedLate(few, ['Observation'], 's')).toBe(false);
    // A Patient is tested by its own id, which the scan can start from.
    expect(testedLate(many, ['Patient'], 's')).toBe(false);
  });

  for (const [label, treated] of [
    ['large caseload', TREATED_MANY],
    ['small caseload', TREATED_FEW],
  ] as const) {
    const access = () => (treated === TREATED_MANY ? many : few);

    it(`${label}: pages by id hold exactly the visible records, in order, once each`, async () => {
      const want = visible(treated, (o) => o.code === 'c1').map((o) => o.id).sort();
      const got = await allPages(access(), 'Observation', 'code=http://loinc.org|c1&_count=7');
      expect(got.ids).toEqual(want);
      expect(got.pages).toBe(Math.ceil(want.length / 7));
    });

    it(`${label}: a computed sort key (-date) pages in order`, async () => {
      const want = visible(treated, (o) => o.date >= '2021')
        .sort((a, b) => (a.date === b.date ? (a.id < b.id ? -1 : 1) : a.date < b.date ? 1 : -1))
        .map((o) => o.id);
      const got = await allPages(access(), 'Observation', 'date=ge2021&_sort=-date&_count=6');
      expect(got.ids).toEqual(want);
    });

    it(`${label}: _sort=-_lastUpdated pages in order and backwards alike`, async () => {
      const got = await allPages(access(), 'Observation', '_sort=-_lastUpdated&_count=9');
      expect([...got.ids].sort()).toEqual(visible(treated, () => true).map((o) => o.id).sort());
      // Newest first; records written in the same millisecond share a lastUpdated and are then
      // ordered by id (sort.ts closes every order with the id).
      const at = new Map(got.ids.map((id, i) => [id, Date.parse(got.updated[i] as string)]));
      const newestFirst = (a: string, b: string) => (at.get(b) as number) - (at.get(a) as number) || (a < b ? -1 : 1);
      expect(got.ids).toEqual([...got.ids].sort(newestFirst));
      // And lastUpdated follows the order the records were written in.
      const writtenOrder = written.filter((o) => at.has(o.id)).map((o) => at.get(o.id) as number);
      expect(writtenOrder).toEqual([...writtenOrder].sort((a, b) => a - b));
      const first: Bundle = await fx.search('Observation', '_sort=-_lastUpdated&_count=9', { access: access() });
      const next = first.link?.find((l) => l.relation === 'next')?.url as string;
      const second: Bundle = await fx.search('Observation', new URL(next).search.slice(1), { access: access() });
      const previous = second.link?.find((l) => l.relation === 'previous')?.url as string;
      const back: Bundle = await fx.search('Observation', new URL(previous).search.slice(1), { access: access() });
      expect(back.entry?.map((e) => e.resource?.id)).toEqual(first.entry?.map((e) => e.resource?.id));
    });

    it(`${label}: totals count the visible records only`, async () => {
      const want = visible(treated, (o) => o.code === 'c1').length;
      const counted: Bundle = await fx.search('Observation', 'code=http://loinc.org|c1&_summary=count', { access: access() });
      expect(counted.total).toBe(want);
      const accurate: Bundle = await fx.search('Observation', 'code=http://loinc.org|c1&_total=accurate&_count=3', { access: access() });
      expect(accurate.total).toBe(want);
      expect(accurate.entry).toHaveLength(3);
    });

    it(`${label}: an untreated patient's or a restricted record answers as missing`, async () => {
      expect(await fx.find('Observation', `subject=Patient/${pid(PATIENTS - 1)}`, { access: access() })).toEqual([]);
      expect(await fx.find('Observation', `_id=o-${pid(3)}-0`, { access: access() })).toEqual([]);
      expect(await fx.find('Observation', `subject=Patient/${pid(3)}`, { access: access() })).toEqual([`o-${pid(3)}-1`, `o-${pid(3)}-2`]);
      const inc: Bundle = await fx.search('Observation', `subject=Patient/${pid(1)}&_include=Observation:subject&_count=2`, { access: access() });
      expect(inc.entry?.filter((e) => e.search?.mode === 'include').map((e) => e.resource?.id)).toEqual([pid(1)]);
    });
  }
});
