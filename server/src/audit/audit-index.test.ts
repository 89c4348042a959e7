import type { AuditEvent } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadDefinitions } from '../kernel/definitions.ts';
import { INDEX_TABLES } from '../store/index-rows.ts';
import { indexResource } from '../store/indexer.ts';
import { otherAuditEvent, restAuditEvent } from './audit-event.ts';
import { AUDIT_SEARCH_PARAMS, auditIndexRows } from './audit-index.ts';
import { authCodes } from './codes.ts';

beforeAll(() => loadDefinitions());

const person = { tenant: 't', clientId: 'app', scope: 'user/*.rs', userId: 'u1', fhirUser: 'Practitioner/p1', roles: ['clinician' as const], purposeOfUse: 'TREAT' };
const events: AuditEvent[] = [
  restAuditEvent({ tenant: 't', context: person, ip: '10.0.0.1', interaction: 'search-type', status: 200, query: 'name=smith', queryDescription: 'Patient search', patients: ['a', 'b'] }),
  restAuditEvent({ tenant: 't', context: person, ip: '::1', interaction: 'read', status: 200, what: ['Observation/o1/_history/2'], patients: ['a'] }),
  restAuditEvent({ tenant: 't', context: { tenant: 't', clientId: 'svc', scope: 'system/*.rs' }, interaction: 'update', status: 404, what: ['Patient/a/_history/3'] }),
  restAuditEvent({ tenant: 't', context: { tenant: 't', clientId: 'pt', scope: 'patient/*.rs', fhirUser: 'Patient/a', roles: ['patient'] }, interaction: 'vread', status: 200, what: ['Patient/a/_history/1'] }),
  otherAuditEvent({ tenant: 't', context: undefined, username: 'mallory', ip: '10.9.9.9', ...authCodes('login'), success: false }),
  otherAuditEvent({ tenant: 't', context: person, ...authCodes('token-issued'), success: true }),
  // A disclosure to an external recipient: subtype disclosure, one entity per resource disclosed.
  restAuditEvent({
    tenant: 't',
    context: { tenant: 't', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' },
    interaction: 'search-type',
    status: 200,
    query: 'subject=Patient/a',
    patients: ['a', 'b'],
    disclosed: { resources: [{ reference: 'Observation/o1/_history/2', patients: ['a'] }, { reference: 'Observation/o2/_history/1', patients: ['b'] }], more: 3 },
  }),
];

// The hand-built rows must be exactly what the general (FHIRPath) indexer makes for those
// parameters, so search over AuditEvents behaves as over any other resource.
test.each(events.map((e, i) => [i, e] as const))('event %i: direct index rows equal the general indexer’s (as sets)', (_i, e) => {
  const direct = auditIndexRows(e);
  const general = indexResource(e);
  const wanted = new Set<string>(AUDIT_SEARCH_PARAMS);
  for (const t of INDEX_TABLES) {
    const sort = (rows: object[]) => [...new Set(rows.map((r) => JSON.stringify(r, Object.keys(r).sort())))].sort();
    const g = (general[t] as { param: string }[]).filter((r) => wanted.has(r.param.split(/[#:]/)[0]));
    expect(sort(direct[t]), t).toEqual(sort(g));
  }
});

test('a disclosure is found by its subtype and by each resource disclosed', () => {
  const rows = auditIndexRows(events[6]);
  expect(rows.token.filter((r) => r.param === 'subtype').map((r) => r.code)).toEqual(['search-type', 'disclosure']);
  expect(rows.reference.filter((r) => r.param === 'entity').map((r) => `${r.targetType}/${r.targetId}`)).toEqual(['Observation/o1', 'Observation/o2', 'Patient/a', 'Patient/b']);
});

test('patient rows name the patients of entities and of a patient agent, once each', () => {
  const rows = auditIndexRows(events[3]).reference.filter((r) => r.param === 'patient');
  expect(rows.map((r) => r.targetId)).toEqual(['a']);
  const search = auditIndexRows(events[0]).reference.filter((r) => r.param === 'patient');
  expect(search.map((r) => r.targetId)).toEqual(['a', 'b']);
});
