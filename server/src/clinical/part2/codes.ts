import type { Coding } from '@medplum/fhirtypes';
import { ACT_CODE, PART2, RESTRICTED, VERY_RESTRICTED } from '../../access/labels.ts';
import { CANONICAL_BASE, SNOMED } from '../codes.ts';

/**
 * The labels and value sets of 42 CFR Part 2 segmentation (README.md).
 *
 * Labels per the HL7 FHIR Data Segmentation for Privacy IG (http://hl7.org/fhir/uv/security-label-ds4p/:
 * a confidentiality code, then policy, refrain and sensitivity codes) with HL7 Terminology codes
 * (https://terminology.hl7.org/CodeSystem-v3-ActCode.html, CodeSystem-v3-Confidentiality.html):
 *  - confidentiality R "restricted" (v3-Confidentiality);
 *  - policy 42CFRPart2 "42 CFR Part2" (v3-ActCode, a privacy law);
 *  - refrain NORDSCLCD "no redisclosure without consent directive" (v3-ActCode, refrain policy);
 *  - sensitivity SUD "substance use disorder information sensitivity" (v3-ActCode).
 */
export const NO_REDISCLOSURE: Coding = { system: ACT_CODE, code: 'NORDSCLCD' };
export const SUD_SENSITIVITY: Coding = { system: ACT_CODE, code: 'SUD' };
export const PART2_LABELS: Coding[] = [RESTRICTED, PART2, NO_REDISCLOSURE, SUD_SENSITIVITY];

/**
 * Labels that are never silently removed: the Part 2 set and the confidentiality codes the access
 * decision point hides records by (a V-labelled record needs no R: V is the stronger code).
 */
export const KEPT_LABELS: Coding[] = [...PART2_LABELS, VERY_RESTRICTED];

export const sameLabel = (a: Coding, b: Coding): boolean => a.system === b.system && a.code === b.code;

/** How a tenant marks a Part 2 program: this code on Organization.type or EpisodeOfCare.type. */
export const PROGRAM_TYPE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/part2-program`;
export const PROGRAM_TYPE_CODE = 'part2-program';

/** meta.extension on a write that removes labels: why (valueString). Never stored. */
export const REMOVAL_REASON_URL = `${CANONICAL_BASE}/StructureDefinition/security-label-removal-reason`;

export const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';

/**
 * ICD-10-CM F10–F19 "Mental and behavioral disorders due to psychoactive substance use", by
 * prefix, except F17 (nicotine dependence): 42 CFR §2.11 defines "substance use disorder" as not
 * including tobacco or caffeine.
 */
export function isSudIcd10(code: string): boolean {
  return /^F1[0-689]/.test(code.toUpperCase());
}

/**
 * SNOMED CT SUD disorders matched exactly (no terminology server here, so no subsumption; extend
 * this list for the descendants a tenant records). Fully specified names in comments. Checked
 * against published value sets: the CDC Opioid CDS IG's `opioid-misuse-disorders` and
 * `conditions-documenting-substance-misuse` expansions (http://fhir.org/guides/cdc/opioid-cds:
 * 5602001, 75544000, 7200002) and VSAC 2.16.840.1.113762.1.4.1222.24 "Alcohol Abuse Disorder"
 * (15167005); 66214007, 26416006 and 191816009 are the parent concepts those sets and the SAMHSA
 * consent2share examples use for substance abuse, drug abuse and drug dependence.
 */
export const SUD_SNOMED = new Set([
  '66214007', // Substance abuse (disorder)
  '26416006', // Drug abuse (disorder)
  '191816009', // Drug dependence (disorder)
  '15167005', // Alcohol abuse (disorder)
  '7200002', // Alcoholism (disorder)
  '5602001', // Opioid abuse (disorder)
  '75544000', // Opioid dependence (disorder)
]);

export function isSudCoding(c: Coding): boolean {
  if (!c.code) return false;
  if (c.system === ICD10CM) return isSudIcd10(c.code);
  if (c.system === SNOMED) return SUD_SNOMED.has(c.code);
  return false;
}
