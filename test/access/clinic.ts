import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { insertAuditEvents } from '../../server/src/audit/audit-store.ts';
import { tenantAdminPolicy } from '../../server/src/access/policy.ts';
import { Repository } from '../../server/src/store/repository.ts';
import type { TestServer } from '../support/server.ts';

/**
 * A small behavioral-health clinic for the access tests, written through the server's own
 * repository (the system path: no token, no write hooks). Every id ends in `-x` and none is a
 * substring of another, so a response body can be scanned for the ids a caller must not see.
 *
 *  Dr A (clinician) treats a1 (active CareTeam), a2 (EpisodeOfCare.careManager), a3 (Encounter
 *  participant) and m (CareTeam); an INACTIVE CareTeam names Dr A for n, which grants nothing.
 *  Dr B (clinician) treats b1 (CareTeam member through PractitionerRole role-b) and b2
 *  (EpisodeOfCare.team → a subject-less CareTeam naming Dr B). Nobody treats n or k.
 *  Guardian g1 is linked to minor m, whose Consent lets g1 see Observations only; guardian g2
 *  is linked to minor k without any Consent.
 *  Labelled: obsr-a1 (Confidentiality R), cond-a1 (42CFRPart2), psy-a1 (PSYTHPN, author Dr A),
 *  psyb-a1 (PSYTHPN, author Dr B).
 */
export const TENANT = 'clinic';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

const ref = (r: string) => ({ reference: r });
const obs = (id: string, patient: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '44249-1' }] },
  subject: ref(`Patient/${patient}`),
  ...extra,
});
const team = (id: string, status: string, subject: string | undefined, member: string) => ({
  resourceType: 'CareTeam',
  id,
  status,
  ...(subject ? { subject: ref(`Patient/${subject}`) } : {}),
  participant: [{ member: ref(member) }],
});
const doc = (id: string, patient: string, author: string, security?: { system: string; code: string }) => ({
  resourceType: 'DocumentReference',
  id,
  status: 'current',
  ...(security ? { meta: { security: [security] } } : {}),
  subject: ref(`Patient/${patient}`),
  author: [ref(author)],
  content: [{ attachment: { contentType: 'text/plain', data: 'bm90ZQ==' } }],
});

export const RESOURCES = [
  ...['prac-a-x', 'prac-b-x', 'prac-s-x', 'prac-d-x', 'prac-m-x'].map((id) => ({ resourceType: 'Practitioner', id, name: [{ family: id }] }) as Resource),
  { resourceType: 'PractitionerRole', id: 'role-b-x', practitioner: ref('Practitioner/prac-b-x') },
  { resourceType: 'Organization', id: 'org-x', name: 'Clinic' },
  { resourceType: 'Location', id: 'loc-x', name: 'Room 1' },
  { resourceType: 'Questionnaire', id: 'quest-x', status: 'active', url: 'https://example.org/q/phq9' },
  ...['pat-a1-x', 'pat-a2-x', 'pat-a3-x', 'pat-b1-x', 'pat-b2-x', 'pat-n-x', 'pat-m-x', 'pat-k-x'].map(
    (id) => ({ resourceType: 'Patient', id, name: [{ family: 'Fam', given: [id] }], gender: 'other' }) as Resource
  ),
  team('team-a1-x', 'active', 'pat-a1-x', 'Practitioner/prac-a-x'),
  team('team-m-x', 'active', 'pat-m-x', 'Practitioner/prac-a-x'),
  team('team-n-x', 'inactive', 'pat-n-x', 'Practitioner/prac-a-x'),
  team('team-b1-x', 'active', 'pat-b1-x', 'PractitionerRole/role-b-x'),
  team('team-b2-x', 'active', undefined, 'Practitioner/prac-b-x'),
  { resourceType: 'EpisodeOfCare', id: 'eoc-a2-x', status: 'active', patient: ref('Patient/pat-a2-x'), careManager: ref('Practitioner/prac-a-x') } as Resource,
  { resourceType: 'EpisodeOfCare', id: 'eoc-b2-x', status: 'active', patient: ref('Patient/pat-b2-x'), team: [ref('CareTeam/team-b2-x')] } as Resource,
  {
    resourceType: 'Encounter',
    id: 'enc-a3-x',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: ref('Patient/pat-a3-x'),
    participant: [{ individual: ref('Practitioner/prac-a-x') }],
  } as Resource,
  ...(
    [
      ['obs-a1-x', 'pat-a1-x'],
      ['obs-a2-x', 'pat-a2-x'],
      ['obs-a3-x', 'pat-a3-x'],
      ['obs-b1-x', 'pat-b1-x'],
      ['obs-b2-x', 'pat-b2-x'],
      ['obs-n-x', 'pat-n-x'],
      ['obs-m-x', 'pat-m-x'],
      ['obs-k-x', 'pat-k-x'],
    ] as const
  ).map(([id, p]) => obs(id, p) as Resource),
  obs('survey-a1-x', 'pat-a1-x', {
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
  }) as Resource,
  obs('obsr-a1-x', 'pat-a1-x', { meta: { security: [{ system: CONF, code: 'R' }] }, code: { coding: [{ system: 'https://example.org', code: 'rcode' }] } }) as Resource,
  {
    resourceType: 'Condition',
    id: 'cond-a1-x',
    meta: { security: [{ system: ACT, code: '42CFRPart2' }] },
    subject: ref('Patient/pat-a1-x'),
    code: { text: 'Opioid use disorder' },
  } as Resource,
  { resourceType: 'Condition', id: 'cond-m-x', subject: ref('Patient/pat-m-x'), code: { text: 'Anxiety' } } as Resource,
  doc('psy-a1-x', 'pat-a1-x', 'Practitioner/prac-a-x', { system: ACT, code: 'PSYTHPN' }) as Resource,
  doc('psyb-a1-x', 'pat-a1-x', 'Practitioner/prac-b-x', { system: ACT, code: 'PSYTHPN' }) as Resource,
  { resourceType: 'QuestionnaireResponse', id: 'qr-a1-x', status: 'completed', subject: ref('Patient/pat-a1-x'), questionnaire: 'https://example.org/q/phq9' } as Resource,
  {
    resourceType: 'Composition',
    id: 'comp-a1-x',
    status: 'final',
    type: { text: 'Progress note' },
    date: '2026-01-01',
    title: 'Note',
    subject: ref('Patient/pat-a1-x'),
    author: [ref('Practitioner/prac-a-x')],
    section: [{ title: 'Findings', entry: [ref('Observation/obsr-a1-x'), ref('Observation/obs-a1-x')] }],
  } as Resource,
  {
    resourceType: 'Appointment',
    id: 'appt-a1-x',
    status: 'booked',
    start: '2026-02-01T09:00:00Z',
    end: '2026-02-01T10:00:00Z',
    participant: [
      { actor: ref('Patient/pat-a1-x'), status: 'accepted' },
      { actor: ref('Practitioner/prac-a-x'), status: 'accepted' },
    ],
  } as Resource,
  { resourceType: 'Coverage', id: 'cov-a1-x', status: 'active', beneficiary: ref('Patient/pat-a1-x'), payor: [ref('Organization/org-x')] } as Resource,
  { resourceType: 'Schedule', id: 'sched-x', actor: [ref('Practitioner/prac-a-x')] } as Resource,
  { resourceType: 'Slot', id: 'slot-x', schedule: ref('Schedule/sched-x'), status: 'free', start: '2026-02-01T09:00:00Z', end: '2026-02-01T10:00:00Z' } as Resource,
  { resourceType: 'RelatedPerson', id: 'rp-g1-x', patient: ref('Patient/pat-m-x') } as Resource,
  { resourceType: 'RelatedPerson', id: 'rp-g2-x', patient: ref('Patient/pat-k-x') } as Resource,
  {
    resourceType: 'Consent',
    id: 'consent-m-x',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: ref('Patient/pat-m-x'),
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: {
      type: 'permit',
      actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GUARD' }] }, reference: ref('RelatedPerson/rp-g1-x') }],
      class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }],
    },
  } as Resource,
  {
    resourceType: 'AuditEvent',
    id: 'audit-x',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110' },
    recorded: '2026-01-01T00:00:00Z',
    agent: [{ requestor: true, who: ref('Practitioner/prac-a-x') }],
    source: { observer: ref('Organization/org-x') },
    entity: [{ what: ref('Patient/pat-a1-x') }],
  } as Resource,
] as unknown as Resource[];

export const TYPE_OF = new Map(RESOURCES.map((r) => [r.id as string, r.resourceType]));
export const ALL_IDS = [...TYPE_OF.keys()];
export const TYPES = [...new Set(RESOURCES.map((r) => r.resourceType))];

export async function buildClinic(s: TestServer): Promise<void> {
  await s.ensureTenant(TENANT);
  const repo = new Repository(s.db, { tenant: TENANT, access: tenantAdminPolicy(TENANT), fhirBase: s.fhirBase, lenient: false, defaultCount: 20, maxCount: 1000 });
  // AuditEvents are written by the server's audit alone, into their own table (server/src/store/audit-table.ts).
  for (const r of RESOURCES) {
    if (r.resourceType === 'AuditEvent') await insertAuditEvents(s.db, TENANT, [{ ...r, meta: { versionId: '1', lastUpdated: new Date().toISOString() } } as AuditEvent]);
    else await repo.updateResource(r);
  }
  // A second version of one resource, so instance history and vread have more than one entry.
  await repo.updateResource({ ...(RESOURCES.find((r) => r.id === 'obs-a1-x') as Resource), status: 'amended' } as Resource);
}
