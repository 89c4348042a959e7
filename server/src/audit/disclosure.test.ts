import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadDefinitions } from '../kernel/definitions.ts';
import { restAuditEvent } from './audit-event.ts';
import { disclosedResources, disclosureView } from './disclosure.ts';

beforeAll(() => loadDefinitions());

const obs = (id: string, patient: string) => ({ resourceType: 'Observation' as const, id, meta: { versionId: '1' }, status: 'final' as const, code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });
const page: Bundle = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: [
    { resource: obs('o1', 'a'), search: { mode: 'match' } },
    { resource: obs('o2', 'b'), search: { mode: 'match' } },
    { resource: { resourceType: 'Practitioner', id: 'p1', meta: { versionId: '4' } }, search: { mode: 'include' } },
    { resource: { resourceType: 'OperationOutcome', issue: [] }, search: { mode: 'outcome' } },
  ],
};
const payer = { tenant: 't', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' };

test('every resource of the answer, with its patients; outcomes left out', () => {
  expect(disclosedResources(page)).toEqual({
    resources: [
      { reference: 'Observation/o1/_history/1', patients: ['a'] },
      { reference: 'Observation/o2/_history/1', patients: ['b'] },
      { reference: 'Practitioner/p1/_history/4', patients: [] },
    ],
    more: 0,
  });
});

test('past the cap: the rest is counted, and the event says how many were not named', () => {
  const found = disclosedResources(page, 1);
  expect(found).toEqual({ resources: [{ reference: 'Observation/o1/_history/1', patients: ['a'] }], more: 2 });
  const event = restAuditEvent({ tenant: 't', context: payer, interaction: 'search-type', status: 200, query: 'q', patients: ['a', 'b'], disclosed: found });
  expect(event.entity?.some((e) => e.description === '2 more resources disclosed, not listed')).toBe(true);
});

test("one patient's view: only their resources, no query, no network address", () => {
  const event = restAuditEvent({ tenant: 't', context: payer, ip: '10.1.1.1', interaction: 'search-type', status: 200, query: 'name=Berg', patients: ['a', 'b'], disclosed: disclosedResources(page) });
  const view: AuditEvent = disclosureView(event, 'b');
  expect(view.entity?.map((e) => e.what?.reference)).toEqual(['Observation/o2/_history/1', 'Patient/b']);
  expect(view.agent?.some((a) => a.network)).toBe(false);
  expect(view.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('HPAYMT');
  expect(view.subtype?.map((c) => c.code)).toEqual(['search-type', 'disclosure']);
});

test('a read: the requested version is the one entity, carrying its patient', () => {
  const found = disclosedResources(obs('o1', 'a'));
  const event = restAuditEvent({ tenant: 't', context: payer, interaction: 'read', status: 200, what: ['Observation/o1/_history/1'], patients: ['a'], disclosed: found });
  const resources = event.entity?.filter((e) => e.role?.code === '4') ?? [];
  expect(resources).toHaveLength(1);
  expect(resources[0].detail).toEqual([{ type: 'patient', valueString: 'a' }]);
});
