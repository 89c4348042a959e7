import type { PersonClaims } from '../support/server.ts';
import { ALL_IDS, TENANT, TYPE_OF } from './clinic.ts';

/**
 * Who asks, and what each of them must see of the clinic (./clinic.ts): the expected visible ids,
 * written out by hand from the rules in server/src/access/README.md.
 */
export interface Principal {
  name: string;
  /** A person token (claims) or a backend-service token (system scope). */
  person?: PersonClaims;
  system?: string;
  visible: string[];
}

const REFERENCE = ['prac-a-x', 'prac-b-x', 'prac-s-x', 'prac-d-x', 'prac-m-x', 'role-b-x', 'org-x', 'loc-x', 'quest-x'];
const LABELLED = ['obsr-a1-x', 'cond-a1-x', 'psy-a1-x', 'psyb-a1-x'];

/** Compartment members of each patient (the resources whose compartment reference names them). */
const COMPARTMENT: Record<string, string[]> = {
  'pat-a1-x': ['pat-a1-x', 'team-a1-x', 'obs-a1-x', 'survey-a1-x', 'obsr-a1-x', 'cond-a1-x', 'psy-a1-x', 'psyb-a1-x', 'qr-a1-x', 'comp-a1-x', 'appt-a1-x', 'cov-a1-x'],
  'pat-a2-x': ['pat-a2-x', 'eoc-a2-x', 'obs-a2-x'],
  'pat-a3-x': ['pat-a3-x', 'enc-a3-x', 'obs-a3-x'],
  'pat-b1-x': ['pat-b1-x', 'team-b1-x', 'obs-b1-x'],
  'pat-b2-x': ['pat-b2-x', 'eoc-b2-x', 'obs-b2-x'],
  'pat-n-x': ['pat-n-x', 'team-n-x', 'obs-n-x'],
  'pat-m-x': ['pat-m-x', 'team-m-x', 'obs-m-x', 'cond-m-x', 'rp-g1-x', 'consent-m-x'],
  'pat-k-x': ['pat-k-x', 'obs-k-x', 'rp-g2-x'],
};
const of = (...patients: string[]) => patients.flatMap((p) => COMPARTMENT[p]);
const except = (ids: string[], ...out: string[]) => ids.filter((i) => !out.includes(i));
const allPatients = Object.keys(COMPARTMENT);
const notOf = (...types: string[]) => ALL_IDS.filter((i) => !types.includes(TYPE_OF.get(i) as string));

const drA = { tenant: TENANT, fhirUser: 'Practitioner/prac-a-x', userId: 'u-a', roles: ['clinician' as const] };
/** Dr A under purpose of use TREAT: her patients, labelled records included, her own psychotherapy note only. */
const drAVisible = [...REFERENCE, ...except(of('pat-a1-x', 'pat-a2-x', 'pat-a3-x', 'pat-m-x'), 'psyb-a1-x')];
/** Without a purpose of use (the most restrictive reading): no labelled record at all. */
const drAUnlabelled = except(drAVisible, ...LABELLED);
const patientA1 = { tenant: TENANT, fhirUser: 'Patient/pat-a1-x', userId: 'u-p', roles: ['patient' as const], patient: 'pat-a1-x' };
const patientA1Visible = [...REFERENCE, ...except(of('pat-a1-x'), ...LABELLED)];

export const PRINCIPALS: Principal[] = [
  { name: 'clinician A, user/*.cruds (v2), no purpose of use', person: { ...drA, scope: 'user/*.cruds' }, visible: drAUnlabelled },
  { name: 'clinician A, user/*.read (v1), no purpose of use', person: { ...drA, scope: 'user/*.read' }, visible: drAUnlabelled },
  {
    name: 'clinician A, granular user/Observation.rs?category=survey',
    person: { ...drA, scope: 'user/Observation.rs?category=survey' },
    visible: ['survey-a1-x'],
  },
  { name: 'clinician A, purpose TREAT', person: { ...drA, scope: 'user/*.rs', purposeOfUse: 'TREAT' }, visible: drAVisible },
  { name: 'care manager (Dr A’s relationships), user/*.rs, TREAT', person: { ...drA, roles: ['care-manager'], scope: 'user/*.rs', purposeOfUse: 'TREAT' }, visible: drAVisible },
  {
    name: 'clinician and front desk roles together (union), TREAT',
    person: { ...drA, roles: ['clinician', 'front-desk'], scope: 'user/*.rs', purposeOfUse: 'TREAT' },
    visible: [...new Set([...drAVisible, ...allPatients, 'appt-a1-x', 'cov-a1-x', 'sched-x', 'slot-x'])],
  },
  { name: 'clinician A, purpose HPAYMT (no restricted records)', person: { ...drA, scope: 'user/*.rs', purposeOfUse: 'HPAYMT' }, visible: except(drAVisible, ...LABELLED) },
  {
    name: 'clinician A, break-glass ETREAT (every patient, not others\u2019 psychotherapy notes)',
    person: { ...drA, scope: 'user/*.rs', purposeOfUse: 'ETREAT' },
    visible: [...REFERENCE, ...except(of(...allPatients), 'psyb-a1-x'), 'team-b2-x', 'sched-x'],
  },
  {
    name: 'clinician B, user/*.rs',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-b-x', userId: 'u-b', roles: ['clinician'], scope: 'user/*.rs' },
    visible: [...REFERENCE, ...of('pat-b1-x', 'pat-b2-x')],
  },
  {
    name: 'supervisor (tenant-wide), user/*.rs, TREAT',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-s-x', userId: 'u-s', roles: ['supervisor'], scope: 'user/*.rs', purposeOfUse: 'TREAT' },
    visible: [...REFERENCE, ...of(...allPatients), 'team-b2-x', 'sched-x'],
  },
  {
    name: 'supervisor (tenant-wide), user/*.rs, no purpose of use (no restricted records)',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-s-x', userId: 'u-s', roles: ['supervisor'], scope: 'user/*.rs' },
    visible: except([...REFERENCE, ...of(...allPatients), 'team-b2-x', 'sched-x'], ...LABELLED),
  },
  {
    name: 'supervisor, purpose HPAYMT (no restricted records)',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-s-x', userId: 'u-s', roles: ['supervisor'], scope: 'user/*.rs', purposeOfUse: 'HPAYMT' },
    visible: except([...REFERENCE, ...of(...allPatients), 'team-b2-x', 'sched-x'], ...LABELLED),
  },
  {
    name: 'front desk, user/*.cruds',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-d-x', userId: 'u-d', roles: ['front-desk'], scope: 'user/*.cruds' },
    visible: [...except(REFERENCE, 'quest-x'), ...allPatients, 'appt-a1-x', 'cov-a1-x', 'sched-x', 'slot-x'],
  },
  {
    name: 'tenant admin, user/*.rs',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-m-x', userId: 'u-m', roles: ['tenant-admin'], scope: 'user/*.rs' },
    visible: [...REFERENCE, 'audit-x'],
  },
  {
    name: 'privacy officer, user/*.rs (the audit trail and Patient resources, never clinical records)',
    person: { tenant: TENANT, fhirUser: 'Practitioner/prac-m-x', userId: 'u-po', roles: ['privacy-officer'], scope: 'user/*.rs' },
    visible: [...allPatients, 'audit-x'],
  },
  { name: 'patient A1, patient/*.rs (v2)', person: { ...patientA1, scope: 'patient/*.rs' }, visible: patientA1Visible },
  { name: 'patient A1, patient/*.read (v1)', person: { ...patientA1, scope: 'patient/*.read' }, visible: patientA1Visible },
  { name: 'patient A1, user/*.rs (own compartment by role)', person: { ...patientA1, patient: undefined, scope: 'user/*.rs' }, visible: patientA1Visible },
  { name: 'patient/ scope without a launch patient', person: { ...patientA1, patient: undefined, scope: 'patient/*.rs' }, visible: [] },
  {
    name: 'guardian with Consent (Observations only)',
    person: { tenant: TENANT, fhirUser: 'RelatedPerson/rp-g1-x', userId: 'u-g1', roles: ['related-person'], scope: 'user/*.rs' },
    visible: [...REFERENCE, 'pat-m-x', 'rp-g1-x', 'obs-m-x'],
  },
  {
    name: 'guardian without Consent',
    person: { tenant: TENANT, fhirUser: 'RelatedPerson/rp-g2-x', userId: 'u-g2', roles: ['related-person'], scope: 'user/*.rs' },
    visible: [...REFERENCE, 'pat-k-x', 'rp-g2-x'],
  },
  { name: 'person without roles', person: { tenant: TENANT, fhirUser: 'Practitioner/prac-a-x', userId: 'u-a', roles: [], scope: 'user/*.rs' }, visible: [] },
  { name: 'person holding only system/ scopes', person: { ...drA, scope: 'system/*.rs' }, visible: [] },
  { name: 'system token, system/*.rs (no labelled records)', system: 'system/*.rs', visible: except(ALL_IDS, ...LABELLED) },
  {
    name: 'system token, system/Observation.rs system/Patient.rs (labelled Observations named)',
    system: 'system/Observation.rs system/Patient.rs',
    visible: ALL_IDS.filter((i) => TYPE_OF.get(i) === 'Observation' || TYPE_OF.get(i) === 'Patient'),
  },
  { name: 'system token, system/*.cruds (AuditEvent through *)', system: 'system/*.cruds', visible: except(ALL_IDS, ...LABELLED) },
  { name: 'system token without AuditEvent scope', system: 'system/Patient.rs system/Practitioner.rs', visible: notOf(...[...new Set(TYPE_OF.values())].filter((t) => t !== 'Patient' && t !== 'Practitioner')) },
];
