import { beforeAll, expect, test } from 'vitest';
import { exportJobEntity, restAuditEvent } from '../audit/audit-event.ts';
import { disclosureView } from '../audit/disclosure.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { FileTally } from './file-disclosure.ts';

beforeAll(() => loadDefinitions());

const line = (id: string, patient: string, v = '1') => JSON.stringify({ resourceType: 'Observation', id, meta: { versionId: v }, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });
const payer = { tenant: 't', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' };

test('a page of NDJSON: each resource as it left (Type/id/_history/v) with its patients', () => {
  const t = new FileTally();
  t.addLines([line('o1', 'a'), line('o2', 'b', '3')].join('\n'));
  t.addLines(JSON.stringify({ resourceType: 'Patient', id: 'a', meta: { versionId: '2' } }));
  expect(t.snapshot()).toEqual({
    resources: [
      { reference: 'Observation/o1/_history/1', patients: ['a'] },
      { reference: 'Observation/o2/_history/3', patients: ['b'] },
      { reference: 'Patient/a/_history/2', patients: ['a'] },
    ],
    more: 0,
    patients: ['a', 'b'],
  });
});

test('past the cap the rest is counted, and every patient is still named', () => {
  const t = new FileTally(undefined, 2);
  t.addLines([line('o1', 'a'), line('o2', 'b'), line('o3', 'c'), line('o4', 'd')].join('\n'));
  const snap = t.snapshot();
  expect(snap.resources.map((r) => r.reference)).toEqual(['Observation/o1/_history/1', 'Observation/o2/_history/1']);
  expect(snap.more).toBe(2);
  expect(snap.patients).toEqual(['a', 'b', 'c', 'd']);
});

test('a resumed tally continues the saved one', () => {
  const first = new FileTally(undefined, 2);
  first.addLines(line('o1', 'a'));
  const resumed = new FileTally(first.snapshot(), 2);
  resumed.addLines([line('o2', 'b'), line('o3', 'c')].join('\n'));
  expect(resumed.snapshot()).toEqual({ resources: [{ reference: 'Observation/o1/_history/1', patients: ['a'] }, { reference: 'Observation/o2/_history/1', patients: ['b'] }], more: 1, patients: ['a', 'b', 'c'] });
});

test("the download's disclosure: the job entity stays in each patient's view, other patients' resources do not", () => {
  const t = new FileTally();
  t.addLines([line('o1', 'a'), line('o2', 'b')].join('\n'));
  const { resources, more, patients } = t.snapshot();
  const event = restAuditEvent({ tenant: 't', context: payer, interaction: 'operation', status: 200, query: '', patients, disclosed: { resources, more }, entities: [exportJobEntity('job-1', 'Observation.ndjson')] });
  const view = disclosureView(event, 'a');
  expect(view.entity?.map((e) => e.what?.reference ?? e.what?.identifier?.value)).toEqual(['Observation/o1/_history/1', 'job-1', 'Patient/a']);
  expect(view.entity?.find((e) => e.role?.code === '20')?.description).toBe('$export file Observation.ndjson');
  expect(JSON.stringify(view)).not.toContain('o2');
});
