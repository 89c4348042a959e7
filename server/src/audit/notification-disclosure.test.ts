import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadDefinitions } from '../kernel/definitions.ts';
import { disclosureView } from './disclosure.ts';
import { notificationDisclosureEvent } from './notification-disclosure.ts';

beforeAll(() => loadDefinitions());

const obs = (id: string, patient: string): Resource => ({ resourceType: 'Observation', id, meta: { versionId: '2' }, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });
const payer = { tenant: 't', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' };
const base = { tenant: 't', subscriptionId: 's1', channel: 'rest-hook' as const, content: 'full-resource' as const, resources: [obs('o1', 'a'), obs('o2', 'b')] };

test('an external subscriber: the resources with their patients, the Subscription, the recipient and purpose', () => {
  const e = notificationDisclosureEvent({ ...base, principal: payer });
  expect(e?.type).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106' });
  expect(e?.subtype?.map((c) => c.code)).toEqual(['subscription-notification', 'disclosure']);
  expect(e?.action).toBe('R');
  expect(e?.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('HPAYMT');
  expect(e?.agent?.map((a) => a.who?.reference ?? a.who?.identifier?.value)).toEqual(['payer', 'Organization/payer']);
  expect(e?.entity?.map((x) => [x.what?.reference, x.role?.code, x.detail?.map((d) => d.valueString)])).toEqual([
    ['Subscription/s1', '23', undefined],
    ['Observation/o1/_history/2', '4', ['a']],
    ['Observation/o2/_history/2', '4', ['b']],
    ['Patient/a', '1', undefined],
    ['Patient/b', '1', undefined],
  ]);
  // Patient a's accounting: the Subscription, a's record and a only.
  const view = disclosureView(e as NonNullable<typeof e>, 'a');
  expect(view.entity?.map((x) => x.what?.reference)).toEqual(['Subscription/s1', 'Observation/o1/_history/2', 'Patient/a']);
});

test('id-only says so; break-glass is a disclosure; internal subscribers and notifications naming no patient are not', () => {
  const idOnly = notificationDisclosureEvent({ ...base, content: 'id-only', principal: payer });
  expect(idOnly?.entity?.filter((x) => x.role?.code === '4').map((x) => x.description)).toEqual(['sent as id only', 'sent as id only']);
  const clinician = { tenant: 't', clientId: 'app', scope: 'user/*.rs', fhirUser: 'Practitioner/p', userId: 'u1' };
  expect(notificationDisclosureEvent({ ...base, principal: clinician })).toBeUndefined();
  expect(notificationDisclosureEvent({ ...base, principal: { ...clinician, purposeOfUse: 'ETREAT' } })?.agent?.[0]?.who?.reference).toBe('Practitioner/p');
  expect(notificationDisclosureEvent({ ...base, principal: payer, resources: [{ resourceType: 'Organization', id: 'x' }] })).toBeUndefined();
  expect(notificationDisclosureEvent({ ...base, principal: payer, resources: [] })).toBeUndefined();
});
