import { CANONICAL_BASE, LOINC, profileUrl } from '../codes.ts';

/**
 * Codes of the SOAP note and its signatures. LOINC codes checked against loinc.org:
 * 11506-3 Progress note (https://loinc.org/11506-3); the SOAP sections as listed in LOINC panel
 * 81216-4 "Progress note - recommended C-CDA R2.0 and R2.1 sections" (listed on
 * https://loinc.org/11506-3): 51848-0 Assessment note, 18776-5 Plan of care note, 61149-1
 * Objective Narrative; and 61150-9 Subjective Narrative ("created for the HL7 Implementation Guide
 * for CDA Progress Note. The Subjective section describes ... the patient's current condition").
 */
export const SOAP_NOTE_PROFILE = profileUrl('soap-note');
export const PROGRESS_NOTE = { system: LOINC, code: '11506-3', display: 'Progress note' } as const;
export const SECTION = {
  subjective: { system: LOINC, code: '61150-9', display: 'Subjective Narrative' },
  objective: { system: LOINC, code: '61149-1', display: 'Objective Narrative' },
  assessment: { system: LOINC, code: '51848-0', display: 'Assessment note' },
  plan: { system: LOINC, code: '18776-5', display: 'Plan of care note' },
} as const;

/**
 * A psychotherapy-notes section (45 CFR 164.501 "psychotherapy notes": kept separate from the
 * rest of the record). LOINC has no section code for it, so the platform names it; the server
 * moves such a section out of the note into its own DocumentReference (./psychotherapy.ts).
 */
export const NOTE_SECTION_SYSTEM = `${CANONICAL_BASE}/CodeSystem/note-section`;
export const PSYCHOTHERAPY_SECTION = { system: NOTE_SECTION_SYSTEM, code: 'psychotherapy-note', display: 'Psychotherapy note' } as const;

/** Security labels (http://terminology.hl7.org/CodeSystem/v3-ActCode PSYTHPN; v3-Confidentiality R). */
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const PSYTHPN = { system: ACT_CODE, code: 'PSYTHPN', display: 'psychotherapy note information sensitivity' } as const;
export const RESTRICTED = { system: CONFIDENTIALITY, code: 'R', display: 'restricted' } as const;

/**
 * Signature types (ValueSet http://hl7.org/fhir/ValueSet/signature-type = CodeSystem
 * urn:iso-astm:E1762-95:2013, as shipped in the R4 definitions).
 */
export const SIGNATURE_TYPE = 'urn:iso-astm:E1762-95:2013';
export const AUTHOR_SIGNATURE = { system: SIGNATURE_TYPE, code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" } as const;
export const VERIFICATION_SIGNATURE = { system: SIGNATURE_TYPE, code: '1.2.840.10065.1.12.1.5', display: 'Verification Signature' } as const;

/** Provenance.agent.type (http://terminology.hl7.org/CodeSystem/provenance-participant-type). */
export const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
