import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Fixture, openFixture, rejection } from '../store/search/test-fixture.ts';
import { restAuditEvent } from './audit-event.ts';
import { insertAuditEvents } from './audit-store.ts';
import { CLIENT_ID_SYSTEM } from './codes.ts';

// FHIR search over the audit table (store/search/audit.ts): R4 semantics for the parameters it
// indexes, a 400 naming the parameter for those it does not — never a silently empty answer.
let f: Fixture;
const clinician = { tenant: 't1', clientId: 'app', scope: 'user/*.rs', userId: 'u1', fhirUser: 'Practitioner/p1', roles: ['clinician' as const] };
const payer = { tenant: 't1', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' };
const at = (iso: string, e: AuditEvent): AuditEvent => ({ ...e, recorded: iso, meta: { ...e.meta, lastUpdated: iso } });
let ev: AuditEvent[];

beforeAll(async () => {
  f = await openFixture();
  await f.create({ resourceType: 'Practitioner', id: 'p1', name: [{ family: 'Okafor' }] });
  await f.create({ resourceType: 'Patient', id: 'a', name: [{ family: 'Ash' }] });
  ev = [
    at('2026-01-10T09:00:00.000Z', restAuditEvent({ tenant: 't1', context: clinician, interaction: 'read', status: 200, what: ['Observation/o1/_history/2'], patients: ['a'] })),
    at('2026-02-20T12:30:00.000Z', restAuditEvent({ tenant: 't1', context: clinician, interaction: 'search-type', status: 200, query: 'x', patients: ['a', 'b'] })),
    at('2026-03-01T00:00:00.000Z', restAuditEvent({ tenant: 't1', context: payer, interaction: 'search-type', status: 200, query: 'y', patients: ['b'], disclosed: { resources: [{ reference: 'Observation/o2/_history/1', patients: ['b'] }], more: 0 } })),
    at('2026-03-05T08:00:00.000Z', restAuditEvent({ tenant: 't1', context: payer, interaction: 'read', status: 404, what: ['Observation/zz'] })),
  ];
  await insertAuditEvents(f.db, 't1', ev);
  // Another tenant's event never shows.
  await insertAuditEvents(f.db, 't2', [restAuditEvent({ tenant: 't2', context: { ...clinician, tenant: 't2' }, interaction: 'read', status: 200, patients: ['a'] })]);
});
afterAll(() => f.close());

const find = (q: string) => f.find('AuditEvent', q);
const ids = (...i: number[]) => i.map((n) => ev[n].id as string).sort();

describe('AuditEvent search', () => {
  test('date: prefixes and precision over recorded', async () => {
    expect(await find('date=2026-02')).toEqual(ids(1));
    expect(await find('date=ge2026-03-01')).toEqual(ids(2, 3));
    expect(await find('date=gt2026-03-01T00:00:00.000Z')).toEqual(ids(3));
    expect(await find('date=lt2026-02-20T12:30:00Z&date=ge2026-01')).toEqual(ids(0));
    expect(await find('date=2026-01-10T09:00:00.000Z')).toEqual(ids(0));
    expect(await find('_lastUpdated=lt2026-02-21')).toEqual(ids(0, 1));
    expect(await find(`_id=${ev[2].id},${ev[3].id}`)).toEqual(ids(2, 3));
  });

  test('tokens: code, system|code, |code, system|, :not, :missing', async () => {
    expect(await find('subtype=read')).toEqual(ids(0, 3));
    expect(await find('subtype=http://hl7.org/fhir/restful-interaction|search-type')).toEqual(ids(1, 2));
    expect(await find('subtype=|read')).toEqual([]);
    expect(await find('subtype=http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype|')).toEqual(ids(2));
    expect(await find('outcome=4')).toEqual(ids(3));
    expect(await find('outcome:not=0')).toEqual(ids(3));
    expect(await find('outcome:missing=true')).toEqual([]);
    expect(await find('subtype=read,disclosure')).toEqual(ids(0, 2, 3));
  });

  test('references: Type/id, id, :Type, :identifier, chains, :missing', async () => {
    expect(await find('patient=Patient/a')).toEqual(ids(0, 1));
    expect(await find('patient=b')).toEqual(ids(1, 2));
    expect(await find('agent=Practitioner/p1')).toEqual(ids(0, 1));
    expect(await find('agent=p1')).toEqual(ids(0, 1));
    expect(await find('agent:Organization=payer')).toEqual(ids(2, 3));
    expect(await find(`agent:identifier=${CLIENT_ID_SYSTEM}|payer`)).toEqual(ids(2, 3));
    expect(await find('entity=Observation/o2')).toEqual(ids(2));
    expect(await find('agent:Practitioner.name=okafor')).toEqual(ids(0, 1));
    expect(await find('patient:missing=true')).toEqual(ids(3));
    expect(await find('patient=Patient/a&subtype=search-type')).toEqual(ids(1));
  });

  test('_sort by date both ways, paging, _include, _revinclude and _has', async () => {
    expect(await f.find('AuditEvent', '_sort=-date', { ordered: true })).toEqual([3, 2, 1, 0].map((i) => ev[i].id));
    const page1 = await f.search('AuditEvent', '_sort=date&_count=3');
    expect(page1.entry?.map((e) => e.resource?.id)).toEqual([0, 1, 2].map((i) => ev[i].id));
    const next = page1.link?.find((l) => l.relation === 'next')?.url as string;
    const page2 = await f.search('AuditEvent', new URL(next).search.slice(1));
    expect(page2.entry?.map((e) => e.resource?.id)).toEqual([ev[3].id]);
    const inc = await f.search('AuditEvent', 'agent=Practitioner/p1&_include=AuditEvent:agent:Practitioner');
    expect(inc.entry?.filter((e) => e.search?.mode === 'include').map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)).toEqual(['Practitioner/p1']);
    const rev: Bundle = await f.search('Patient', '_id=a&_revinclude=AuditEvent:patient');
    expect(rev.entry?.filter((e) => e.search?.mode === 'include').map((e) => e.resource?.id).sort()).toEqual(ids(0, 1));
    expect(await f.find('Patient', '_has:AuditEvent:patient:subtype=read')).toEqual(['a']);
  });

  test('parameters the audit table does not index are a 400 naming them', async () => {
    // [query, the parameter the 400 names]: a _has names its inner parameter, as for any type.
    const refused: [string, string][] = [
      ['action=R', 'action'],
      ['site=t1', 'site'],
      ['subtype:text=read', 'subtype:text'],
      ['_sort=outcome', '_sort'],
      ['_tag=x', '_tag'],
      ['agent-name=x', 'agent-name'],
      ['_has:AuditEvent:agent:action=R', 'action'],
    ];
    for (const [q, named] of refused) {
      const r = await rejection(q.startsWith('_has') ? f.search('Practitioner', q) : find(q));
      expect(r.kind, q).toMatch(/^(not-supported|invalid)$/);
      expect(r.expression, q).toEqual([named]);
    }
    await expect(f.search(undefined, '_type=AuditEvent,Patient')).rejects.toThrow(/on its own/);
  });
});
