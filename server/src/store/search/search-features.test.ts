import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopePolicy, tenantAdminPolicy } from '../../access/policy.ts';
import { Repository } from '../repository.ts';
import { type Fixture, BASE, openFixture, rejection } from './test-fixture.ts';

/**
 * Chains, reverse chains, sorting, paging, totals, includes, access and tenancy, _summary and
 * _elements, system-level search — against a real database.
 */
let fx: Fixture;

const patient = (id: string, family: string, extra: Partial<Patient> = {}): Patient => ({ resourceType: 'Patient', id, name: [{ family }], ...extra });
const obs = (id: string, patientId: string, code: string, extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patientId}` },
  ...extra,
});
const ids = (b: Bundle, mode = 'match') => (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
/** Follows a link of a bundle by running its query again (as a client would by GET). */
const follow = (b: Bundle, relation: string) => {
  const url = b.link?.find((l) => l.relation === relation)?.url;
  if (!url) return undefined;
  const u = new URL(url);
  const type = u.pathname.split('/').pop() as string;
  return fx.search(type === 'R4' ? undefined : type, u.search.slice(1), { defaultCount: 20 });
};

beforeAll(async () => {
  fx = await openFixture();
  await fx.create({ resourceType: 'Organization', id: 'acme', name: 'Acme Clinic' });
  await fx.create({ resourceType: 'Organization', id: 'other', name: 'Other Place' });
  await fx.create(patient('a', 'Adams', { birthDate: '1990-01-01', managingOrganization: { reference: 'Organization/acme' }, gender: 'male' }));
  await fx.create(patient('b', 'Baker', { birthDate: '1970-01-01', managingOrganization: { reference: 'Organization/other' }, gender: 'female' }));
  await fx.create(patient('c', 'Clark', { birthDate: '1980-01-01', gender: 'female' }));
  await fx.create(patient('d', 'Adams', { gender: 'male' })); // no birth date: sorts last
  await fx.create(obs('o1', 'a', '1234', { category: [{ coding: [{ code: 'laboratory' }] }], effectiveDateTime: '2020-01-01' }));
  await fx.create(obs('o2', 'a', '5678', { category: [{ coding: [{ code: 'vital-signs' }] }], effectiveDateTime: '2021-01-01', hasMember: [{ reference: 'Observation/o1' }] }));
  await fx.create(obs('o3', 'b', '1234', { category: [{ coding: [{ code: 'laboratory' }] }], effectiveDateTime: '2019-01-01' }));
  await fx.create(obs('o4', 'c', '9999', { category: [{ coding: [{ code: 'laboratory' }] }] }));
  await fx.create({ resourceType: 'Provenance', id: 'prov1', target: [{ reference: 'Observation/o1' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { reference: 'Organization/acme' } }] });
  // Another tenant with look-alike data.
  await fx.create(patient('a', 'Adams', { birthDate: '1990-01-01' }), 't2');
  await fx.create(obs('x1', 'a', '1234'), 't2');
});
afterAll(() => fx.close());

describe('chaining (R4 search.html#chaining)', () => {
  it('follows a typed or untyped reference to a matching target', async () => {
    expect(await fx.find('Observation', 'subject:Patient.name=adams')).toEqual(['o1', 'o2']);
    expect(await fx.find('Observation', 'subject.name=baker')).toEqual(['o3']);
    expect(await fx.find('Observation', 'patient.birthdate=lt1985')).toEqual(['o3', 'o4']);
  });
  it('chains of depth two', async () => {
    expect(await fx.find('Observation', 'patient.organization.name=acme')).toEqual(['o1', 'o2']);
    expect(await fx.find('Observation', 'patient.organization._id=other')).toEqual(['o3']);
  });
  it('stays within the tenant', async () => {
    expect(await fx.find('Observation', 'subject:Patient.name=adams', { tenant: 't2' })).toEqual(['x1']);
  });
});

describe('reverse chaining (R4 search.html#has)', () => {
  it('finds resources referred to by matching resources', async () => {
    expect(await fx.find('Patient', '_has:Observation:patient:code=1234')).toEqual(['a', 'b']);
    expect(await fx.find('Patient', '_has:Observation:patient:code=1234&gender=female')).toEqual(['b']);
    expect(await fx.find('Patient', '_has:Observation:subject:date=ge2021')).toEqual(['a']);
  });
  it('nests', async () => {
    // Organizations managing a patient who has an Observation with code 1234: acme (a), other (b).
    expect(await fx.find('Organization', '_has:Patient:organization:_has:Observation:patient:code=1234')).toEqual(['acme', 'other']);
    expect(await fx.find('Organization', '_has:Patient:organization:_has:Observation:patient:code=5678')).toEqual(['acme']);
  });
});

describe('many filters (index.ts intersectBeyond: sets beyond four are read as one INTERSECT)', () => {
  it('still requires every filter, for one type and across types', async () => {
    expect(await fx.find('Patient', 'family=Adams&family=Ad&family=Ada&gender=male&birthdate=1990&name=Adams')).toEqual(['a']);
    expect(await fx.find('Patient', 'family=Adams&family=Ad&family=Ada&gender=female&name=Adams')).toEqual([]);
    const b = await fx.search(undefined, '_type=Patient,Practitioner&family=Adams&family=Ad&family=Ada&gender=male&name=Adams');
    expect(ids(b).sort()).toEqual(['Patient/a', 'Patient/d']);
  });
});

describe('_sort (R4 search.html#sort)', () => {
  it('sorts on several keys, missing values last in both directions', async () => {
    expect(await fx.find('Patient', '_sort=birthdate', { ordered: true })).toEqual(['b', 'c', 'a', 'd']);
    expect(await fx.find('Patient', '_sort=-birthdate', { ordered: true })).toEqual(['a', 'c', 'b', 'd']);
    expect(await fx.find('Patient', '_sort=family,-birthdate', { ordered: true })).toEqual(['a', 'd', 'b', 'c']);
    expect(await fx.find('Patient', '_sort=-family,_id', { ordered: true })).toEqual(['c', 'b', 'a', 'd']);
    expect(await fx.find('Patient', '_sort=gender,-_id', { ordered: true })).toEqual(['c', 'b', 'd', 'a']);
  });
  it('defaults to a stable order by id; _lastUpdated uses the resource row', async () => {
    expect(await fx.find('Patient', '', { ordered: true })).toEqual(['a', 'b', 'c', 'd']);
    // Newest first, written d, c, b, a; creates within one millisecond share a lastUpdated and
    // are then ordered by id.
    const b = await fx.search('Patient', '_sort=-_lastUpdated');
    const got = (b.entry ?? []).map((e) => ({ id: e.resource?.id as string, at: Date.parse(e.resource?.meta?.lastUpdated as string) }));
    expect(got.map((g) => g.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    const at = (id: string) => got.find((g) => g.id === id)?.at as number;
    expect([at('a'), at('b'), at('c'), at('d')]).toEqual([at('a'), at('b'), at('c'), at('d')].sort((x, y) => x - y));
    expect(got.map((g) => g.id)).toEqual([...got].sort((x, y) => y.at - x.at || (x.id < y.id ? -1 : 1)).map((g) => g.id));
  });
});

describe('paging (R4 http.html#paging)', () => {
  it('walks next and previous links with a keyset cursor', async () => {
    const p1 = await fx.search('Patient', '_sort=birthdate&_count=3');
    expect(ids(p1)).toEqual(['Patient/b', 'Patient/c', 'Patient/a']);
    expect(p1.link?.map((l) => l.relation)).toEqual(['self', 'first', 'next']);
    expect(p1.link?.[0].url).toBe(`${BASE}/Patient?_sort=birthdate&_count=3`);
    expect(p1.total).toBeUndefined(); // not free: the page was full
    const p2 = (await follow(p1, 'next')) as Bundle;
    expect(ids(p2)).toEqual(['Patient/d']); // the one without a birth date comes last
    expect(p2.link?.map((l) => l.relation)).toEqual(['self', 'first', 'previous']);
    const back = (await follow(p2, 'previous')) as Bundle;
    expect(ids(back)).toEqual(['Patient/b', 'Patient/c', 'Patient/a']);
    expect(back.link?.map((l) => l.relation)).toEqual(['self', 'first', 'next']);
  });

  it('keeps its place while data changes', async () => {
    const p1 = await fx.search('Observation', '_count=2&_sort=-date');
    expect(ids(p1)).toEqual(['Observation/o2', 'Observation/o1']);
    // A new observation that sorts first, and the deletion of one on the next page.
    await fx.create(obs('o0', 'a', '1111', { effectiveDateTime: '2030-01-01' }));
    const repo = new Repository(fx.db, { tenant: 't1', access: tenantAdminPolicy('t1'), fhirBase: BASE, lenient: false, defaultCount: 20, maxCount: 100 });
    await repo.deleteResource('Observation', 'o3');
    const p2 = (await follow(p1, 'next')) as Bundle;
    expect(ids(p2)).toEqual(['Observation/o4']); // o3 gone, nothing repeated, o0 not pushed in
    // Put things back for the other tests (update-as-create revives the deleted id).
    await repo.deleteResource('Observation', 'o0');
    await repo.updateResource(obs('o3', 'b', '1234', { category: [{ coding: [{ code: 'laboratory' }] }], effectiveDateTime: '2019-01-01' }));
  });

  it('pages a system-level search across types', async () => {
    const all: string[] = [];
    let b: Bundle | undefined = await fx.search(undefined, '_type=Patient,Organization&_count=2');
    while (b) {
      all.push(...ids(b));
      b = await follow(b, 'next');
    }
    expect(all).toEqual(['Organization/acme', 'Organization/other', 'Patient/a', 'Patient/b', 'Patient/c', 'Patient/d']);
  });
});

describe('_total and _count (R4 search.html#total)', () => {
  it('accurate counts the whole match; none omits; absent only when free', async () => {
    expect((await fx.search('Observation', 'code=1234&_count=1&_total=accurate')).total).toBe(2);
    expect((await fx.search('Observation', 'code=1234&_count=1&_total=estimate')).total).toBe(2);
    expect((await fx.search('Observation', 'code=1234&_total=none')).total).toBeUndefined();
    expect((await fx.search('Observation', 'code=1234')).total).toBe(2); // first page not full: known
  });
  it('_count=0 and _summary=count return only the total', async () => {
    const b = await fx.search('Observation', 'code=1234&_count=0');
    expect(b.total).toBe(2);
    expect(b.entry).toBeUndefined();
    expect((await fx.search('Patient', '_summary=count')).total).toBe(4);
  });
});

describe('_include and _revinclude (R4 search.html#include)', () => {
  it('includes referenced resources once, marked include', async () => {
    const b = await fx.search('Observation', 'code=1234&_include=Observation:patient');
    expect(ids(b)).toEqual(['Observation/o1', 'Observation/o3']);
    expect(ids(b, 'include').sort()).toEqual(['Patient/a', 'Patient/b']);
    expect(b.entry?.find((e) => e.search?.mode === 'include')?.fullUrl).toMatch(new RegExp(`^${BASE}/Patient/`));
  });
  it('honours the target type, wildcards and revinclude', async () => {
    expect(ids(await fx.search('Observation', '_id=o1&_include=Observation:subject:Group'), 'include')).toEqual([]);
    expect(ids(await fx.search('Observation', '_id=o2&_include=Observation:*'), 'include').sort()).toEqual(['Observation/o1', 'Patient/a']);
    expect(ids(await fx.search('Observation', '_id=o1&_revinclude=Provenance:target'), 'include')).toEqual(['Provenance/prov1']);
  });
  it(':iterate follows included resources', async () => {
    const plain = await fx.search('Observation', '_id=o1&_include=Observation:patient&_include=Patient:organization');
    expect(ids(plain, 'include')).toEqual(['Patient/a']); // Patient:organization applies to matches only
    const it = await fx.search('Observation', '_id=o1&_include=Observation:patient&_include:iterate=Patient:organization');
    expect(ids(it, 'include')).toEqual(['Patient/a', 'Organization/acme']);
    const rev = await fx.search('Patient', '_id=a&_revinclude=Observation:patient&_revinclude:iterate=Provenance:target');
    expect(ids(rev, 'include').sort()).toEqual(['Observation/o1', 'Observation/o2', 'Provenance/prov1']);
  });
});

describe('access (../../access/policy.ts) composed into SQL', () => {
  const lab = scopePolicy('t1', 'c', 'system/Observation.rs?category=laboratory system/Patient.rs');
  it('restricts matches, totals and pages to the constraint', async () => {
    expect(await fx.find('Observation', '', { access: lab })).toEqual(['o1', 'o3', 'o4']);
    expect((await fx.search('Observation', '_total=accurate&_count=1', { access: lab })).total).toBe(3);
    expect((await fx.search('Observation', '_summary=count', { access: lab })).total).toBe(3);
  });
  it('applies to includes, chains and _has', async () => {
    const b = await fx.search('Patient', '_id=a&_revinclude=Observation:patient', { access: lab });
    expect(ids(b, 'include')).toEqual(['Observation/o1']); // o2 is vital-signs
    expect(await fx.find('Patient', '_has:Observation:patient:code=5678', { access: lab })).toEqual([]);
    const noPatients = scopePolicy('t1', 'c', 'system/Observation.rs');
    expect(await rejection(fx.search('Observation', 'subject:Patient.name=adams', { access: noPatients }))).toMatchObject({ kind: 'forbidden' });
    expect(ids(await fx.search('Observation', '_id=o1&_include=Observation:patient', { access: noPatients }), 'include')).toEqual([]);
  });
  it('checks the permission it is asked for (a read-visibility check uses r)', async () => {
    const readOnly = scopePolicy('t1', 'c', 'system/Observation.r?category=laboratory');
    expect(await rejection(fx.search('Observation', '_id=o1', { access: readOnly }))).toMatchObject({ kind: 'forbidden' });
    expect(await fx.find('Observation', '_id=o1,o2', { access: readOnly, permission: 'r' })).toEqual(['o1']);
  });
  it('refuses a type the caller may not search, and skips it in a system search', async () => {
    const obsOnly = scopePolicy('t1', 'c', 'system/Observation.rs');
    expect(await rejection(fx.search('Patient', '', { access: obsOnly }))).toMatchObject({ kind: 'forbidden' });
    expect(await rejection(fx.search(undefined, '_type=Patient,Observation', { access: obsOnly }))).toMatchObject({ kind: 'forbidden' });
    expect(ids(await fx.search(undefined, '_id=a,o1', { access: obsOnly }))).toEqual(['Observation/o1']);
  });
});

describe('tenancy', () => {
  it('never crosses tenants', async () => {
    expect(await fx.find('Patient', '', { tenant: 't2' })).toEqual(['a']);
    expect(await fx.find('Observation', 'code=1234', { tenant: 't2' })).toEqual(['x1']);
    expect(ids(await fx.search('Observation', '_include=Observation:patient', { tenant: 't2' }), 'include')).toEqual(['Patient/a']);
    expect(await fx.find('Patient', '_has:Observation:patient:code=1234', { tenant: 't2' })).toEqual(['a']);
  });
});

describe('lenient handling (R4 search.html#errors)', () => {
  it('ignores and reports unknown parameters', async () => {
    const b = await fx.search('Patient', 'family=adams&nonsense=1', { lenient: true });
    expect(ids(b)).toEqual(['Patient/a', 'Patient/d']);
    const outcome = b.entry?.find((e) => e.search?.mode === 'outcome')?.resource;
    expect(outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'warning', diagnostics: expect.stringContaining("'nonsense'") }] });
    expect(b.link?.[0].url).toBe(`${BASE}/Patient?family=adams`);
    expect(await rejection(fx.search('Patient', 'family=adams&nonsense=1'))).toMatchObject({ kind: 'invalid', expression: ['nonsense'] });
  });
});

describe('_summary and _elements (R4 search.html#summary, #elements)', () => {
  it('subsets matches and marks them SUBSETTED', async () => {
    const b = await fx.search('Patient', '_id=a&_elements=birthDate');
    const p = b.entry?.[0].resource as Patient;
    expect(Object.keys(p).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
    expect(p.meta?.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    const s = (await fx.search('Observation', '_id=o1&_summary=true&_include=Observation:patient')).entry ?? [];
    expect(Object.keys(s[0].resource as object)).not.toContain('category'); // not a summary element
    expect(Object.keys(s[0].resource as object)).toContain('code');
    expect((s[1].resource as Patient).managingOrganization).toBeDefined(); // includes are whole
  });
});
