import type { CodeableConcept, Resource } from '@medplum/fhirtypes';
import { isSudCoding } from './codes.ts';

/**
 * Content rule: a record whose own code says SUD is labelled wherever it was recorded, so a SUD
 * diagnosis made outside a Part 2 program is still recognised. The elements read are those that
 * state a diagnosis or finding, not every coding (a Medication's form is not a diagnosis).
 */
const CODED: Record<string, string[]> = {
  Condition: ['code'],
  Observation: ['code', 'valueCodeableConcept'],
  Procedure: ['code', 'reasonCode'],
  Encounter: ['reasonCode'],
  ServiceRequest: ['code', 'reasonCode'],
  Goal: ['description'],
  ClinicalImpression: ['finding'],
  DiagnosticReport: ['code', 'conclusionCode'],
  MedicationRequest: ['reasonCode'],
  MedicationStatement: ['reasonCode'],
};

export function sudByContent(r: Resource): boolean {
  const fields = CODED[r.resourceType];
  if (!fields) return false;
  const record = r as unknown as Record<string, unknown>;
  return fields.some((f) => concepts(record[f]).some((cc) => (cc.coding ?? []).some(isSudCoding)));
}

function concepts(v: unknown): CodeableConcept[] {
  if (!v) return [];
  // ClinicalImpression.finding is { itemCodeableConcept }.
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => ((x as { itemCodeableConcept?: CodeableConcept }).itemCodeableConcept ?? x) as CodeableConcept);
}
