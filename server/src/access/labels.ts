import type { SecurityLabel } from './constraint.ts';

/**
 * Security labels (meta.security) that restrict who may see a resource
 * (https://hl7.org/fhir/R4/security-labels.html). Consent-driven and further labels plug in here.
 */
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

/** Psychotherapy notes (HIPAA 45 CFR 164.501): the author and supervisors only. */
export const PSYCHOTHERAPY: SecurityLabel = { system: ACT_CODE, code: 'PSYTHPN' };
/** Substance-use disorder records under 42 CFR Part 2. */
export const PART2: SecurityLabel = { system: ACT_CODE, code: '42CFRPart2' };
export const RESTRICTED: SecurityLabel = { system: CONFIDENTIALITY, code: 'R' };
export const VERY_RESTRICTED: SecurityLabel = { system: CONFIDENTIALITY, code: 'V' };

/** Every label that hides a resource from anyone but its treating clinicians. */
export const RESTRICTING_LABELS: SecurityLabel[] = [PSYCHOTHERAPY, PART2, RESTRICTED, VERY_RESTRICTED];

/** Purposes of use (v3-ActReason) under which treating clinicians see restricted records. */
export const TREATMENT = 'TREAT';
/** Break-glass: emergency treatment. */
export const EMERGENCY_TREATMENT = 'ETREAT';
