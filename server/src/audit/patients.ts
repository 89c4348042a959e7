import type { Resource } from '@medplum/fhirtypes';
import { patientCompartmentParams } from '../kernel/compartment.ts';
import { searchParam } from '../kernel/definitions.ts';

/**
 * The patients whose data a resource carries: the Patient itself, or the patients its R4 Patient
 * compartment parameters point at (http://hl7.org/fhir/R4/compartmentdefinition-patient.html).
 * An AuditEvent names them as entities with role 1 Patient, so "who saw this patient's data" is
 * one search. Runs on every response, so it walks plain element paths (derived once per type from
 * the parameters' FHIRPath) instead of evaluating FHIRPath per resource.
 */
const pathsByType = new Map<string, string[][]>();

function pathsFor(type: string): string[][] {
  let paths = pathsByType.get(type);
  if (paths) return paths;
  paths = [];
  for (const code of patientCompartmentParams().get(type) ?? []) {
    const expression = searchParam(type, code)?.definition.expression ?? '';
    for (const part of expression.split('|')) {
      // "Observation.subject.where(resolve() is Patient)" → ["subject"]; "(X.a as Reference)" → ["a"]
      const m = new RegExp(`^\\(?${type}\\.([A-Za-z]+(?:\\.[A-Za-z]+)*)`).exec(part.trim());
      if (m) paths.push(m[1].split('.'));
    }
  }
  pathsByType.set(type, paths);
  return paths;
}

const PATIENT_REF = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/;

function collect(node: unknown, path: string[], i: number, out: Set<string>): void {
  if (node === undefined || node === null) return;
  if (Array.isArray(node)) {
    for (const n of node) collect(n, path, i, out);
    return;
  }
  if (i === path.length) {
    const ref = (node as { reference?: unknown }).reference;
    if (typeof ref === 'string') {
      const m = PATIENT_REF.exec(ref);
      if (m) out.add(m[1]);
    }
    return;
  }
  if (typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const key = path[i];
  // Choice elements (value[x]) appear as valueReference etc.
  collect(obj[key] ?? obj[`${key}Reference`], path, i + 1, out);
}

/** Adds the ids of the patients whose data `resource` carries to `out`. */
export function addPatientsOf(resource: Resource | undefined, out: Set<string>): void {
  if (!resource) return;
  if (resource.resourceType === 'Patient') {
    if (resource.id) out.add(resource.id);
    return;
  }
  if (resource.resourceType === 'Bundle') {
    for (const e of resource.entry ?? []) {
      if (e.search?.mode === 'outcome') continue;
      addPatientsOf(e.resource, out);
    }
    return;
  }
  if (resource.resourceType === 'OperationOutcome' || resource.resourceType === 'AuditEvent') return;
  for (const path of pathsFor(resource.resourceType)) collect(resource, path, 0, out);
}
