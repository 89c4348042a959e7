import { patientCompartmentParams } from '../kernel/compartment.ts';
import { ALL, DENY, type ReadConstraint, allOf, anyOf } from './constraint.ts';
import type { Role } from './context.ts';
import { EMERGENCY_TREATMENT, PSYCHOTHERAPY, RESTRICTING_LABELS, TREATMENT } from './labels.ts';
import { type Guardianship, consentCovers } from './reach.ts';
import type { Permission } from './scopes.ts';

/**
 * What each role reaches, per resource type and permission (README.md has the table). Intersected
 * with the token's user/ or patient/ scopes by ./policy.ts; this module never widens a scope.
 */

/** Only tenant admins (and system tokens whose scope names it) read AuditEvent; nobody writes it. */
export const AUDIT_EVENT = 'AuditEvent';

/** Types in the R4 Patient compartment (plus Patient itself), minus AuditEvent. */
let clinical: Set<string> | undefined;
export function compartmentTypes(): Set<string> {
  if (!clinical) {
    clinical = new Set(patientCompartmentParams().keys());
    clinical.add('Patient');
    clinical.delete(AUDIT_EVENT);
  }
  return clinical;
}

/** Reference data clinicians read (never write): who works where, forms, terminology, medications. */
export const CLINICIAN_REFERENCE = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Questionnaire',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'Medication',
  'Substance',
  'PlanDefinition',
  'ActivityDefinition',
  'Library',
]);

/** Reference data patients and guardians (and patient/ scopes) read: least privilege, what a patient app needs. */
export const PATIENT_REFERENCE = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'Location', 'HealthcareService', 'Questionnaire', 'ValueSet', 'CodeSystem']);

/** Front desk: scheduling and demographics, tenant-wide; never clinical records. */
export const FRONT_DESK = new Set([
  'Patient',
  'Appointment',
  'AppointmentResponse',
  'Schedule',
  'Slot',
  'Practitioner',
  'PractitionerRole',
  'Location',
  'Organization',
  'HealthcareService',
  'Coverage',
]);

/** Tenant admin: the clinic's administrative resources and the audit trail; never clinical records. */
export const TENANT_ADMIN = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Questionnaire',
  'StructureDefinition',
  'ValueSet',
  'CodeSystem',
  // The crisis-risk rule set (PlanDefinition/risk-rules): deadlines and rules are the clinic's to set.
  'PlanDefinition',
  AUDIT_EVENT,
]);

const READS = new Set<Permission>(['r', 's']);

/** The facts about a person the role rules need (loaded by ./policy.ts from the database). */
export interface PersonReach {
  /** Practitioner id of fhirUser (clinical roles), Patient id (patient role), RelatedPerson id. */
  practitioner?: string;
  patient?: string;
  relatedPerson?: string;
  /** `Practitioner/<id>` of a practitioner user, for authorship (psychotherapy notes). */
  fhirUser?: string;
  purposeOfUse?: string;
  /** Patients treated by the practitioner (./reach.ts); unused under a tenant-wide grant. */
  treated: string[];
  guardianships: Guardianship[];
  /** Roles granted the whole tenant (TENANT_WIDE_ROLES). */
  tenantWide: Set<string>;
}

const unlabelled: ReadConstraint = { kind: 'unlabelled', labels: RESTRICTING_LABELS };

export function roleConstraint(role: Role, type: string, p: Permission, r: PersonReach): ReadConstraint {
  switch (role) {
    case 'clinician':
    case 'care-manager':
    case 'supervisor':
      return clinicalConstraint(role, type, p, r);
    case 'front-desk':
      return FRONT_DESK.has(type) ? unlabelled : DENY;
    case 'tenant-admin':
      if (!TENANT_ADMIN.has(type)) return DENY;
      if (type === AUDIT_EVENT && !READS.has(p)) return DENY;
      return unlabelled;
    case 'privacy-officer':
      // The audit trail, tenant-wide, and the Patient resources whose accounting of disclosures
      // they answer (./accounting.ts); never clinical records (HIPAA 45 CFR 164.530(a): the
      // privacy official; 164.528: the accounting they provide).
      if (!READS.has(p)) return DENY;
      return type === AUDIT_EVENT || type === 'Patient' ? unlabelled : DENY;
    case 'patient':
      if (!r.patient) return DENY;
      if (compartmentTypes().has(type)) return allOf([{ kind: 'compartment', patients: [r.patient] }, unlabelled]);
      return READS.has(p) && PATIENT_REFERENCE.has(type) ? unlabelled : DENY;
    case 'related-person':
      return guardianConstraint(type, p, r);
    default:
      return DENY;
  }
}

/**
 * Clinicians and care managers: the compartments of the patients they treat. Supervisors: the
 * whole tenant (a clinical supervisor reviews every case of the clinic), which is also what
 * TENANT_WIDE_ROLES grants a role. Break-glass (ETREAT) widens a clinician or care manager to
 * every patient of the tenant for the token's lifetime (audited with its purpose of use).
 *
 * Labels: restricted records (R, V, 42CFRPart2) are seen only under purpose of use TREAT or
 * ETREAT, never without a purpose (the most restrictive reading: a token carries TREAT only when
 * the person asked for it, ./purpose.ts); psychotherapy notes (PSYTHPN) likewise, and only by
 * their author and supervisors, never through break-glass. Reference data never shows a labelled
 * resource.
 */
function clinicalConstraint(role: Role, type: string, p: Permission, r: PersonReach): ReadConstraint {
  if (!compartmentTypes().has(type)) return READS.has(p) && CLINICIAN_REFERENCE.has(type) ? unlabelled : DENY;
  if (!r.practitioner && !(role === 'supervisor' || r.tenantWide.has(role))) return DENY;
  const purpose = r.purposeOfUse;
  const breakGlass = purpose === EMERGENCY_TREATMENT && role !== 'supervisor';
  const treating = purpose === TREATMENT || purpose === EMERGENCY_TREATMENT;
  const wide = role === 'supervisor' || r.tenantWide.has(role) || breakGlass;
  const patients: ReadConstraint = wide ? ALL : anyOf([{ kind: 'compartment', patients: r.treated }, ...assigned(type, p, r)]);
  if (!treating) return allOf([patients, unlabelled]);
  if (role === 'supervisor') return patients;
  // Psychotherapy notes: the author's own (Composition.author, DocumentReference.author) only.
  const authored: ReadConstraint =
    r.fhirUser && (type === 'Composition' || type === 'DocumentReference') ? { kind: 'refers', params: ['author'], targets: [r.fhirUser] } : DENY;
  return allOf([patients, anyOf([{ kind: 'unlabelled', labels: [PSYCHOTHERAPY] }, authored])]);
}

/**
 * What a practitioner reaches because it was routed to them, beyond the patients they treat
 * (clinical/risk): the Tasks they own (read, search, update: the owner of a risk Task acknowledges
 * and closes it even without a care relationship) and the Communications addressed to them (read).
 * Evaluated in SQL on the row's current references, so a Task assigned a moment ago is visible
 * at once under a policy cached before it existed.
 */
function assigned(type: string, p: Permission, r: PersonReach): ReadConstraint[] {
  if (!r.fhirUser) return [];
  if (type === 'Task' && (READS.has(p) || p === 'u')) return [{ kind: 'refers', params: ['owner'], targets: [r.fhirUser] }];
  if (type === 'Communication' && READS.has(p)) return [{ kind: 'refers', params: ['recipient'], targets: [r.fhirUser] }];
  return [];
}

/**
 * A related person (guardian): the Patient resources of the patients they are linked to, their
 * own RelatedPerson record, and of each patient's compartment what that patient's active Consent
 * permits them; never labelled records.
 */
function guardianConstraint(type: string, p: Permission, r: PersonReach): ReadConstraint {
  const parts: ReadConstraint[] = [];
  if (type === 'RelatedPerson' && r.relatedPerson && READS.has(p)) parts.push({ kind: 'ids', ids: [r.relatedPerson] });
  if (type === 'Patient' && READS.has(p)) parts.push({ kind: 'compartment', patients: r.guardianships.map((g) => g.patient) });
  if (compartmentTypes().has(type)) {
    const patients = r.guardianships.filter((g) => consentCovers(g, type)).map((g) => g.patient);
    if (patients.length) parts.push({ kind: 'compartment', patients });
  } else if (READS.has(p) && PATIENT_REFERENCE.has(type)) {
    parts.push(ALL);
  }
  return allOf([anyOf(parts), unlabelled]);
}
