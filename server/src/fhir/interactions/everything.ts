import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { patientCompartmentParams } from '../../kernel/compartment.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * Patient/[id]/$everything (http://hl7.org/fhir/R4/patient-operation-everything.html): the patient
 * and every resource in its compartment that the caller may read, in one SQL statement over the
 * reference index with the caller's access predicate composed in (store/repository.ts). The
 * Patient itself is read through the same check as a read: 404 when outside the caller's reach. Supports _since and _type; returns a searchset Bundle.
 */
export const patientEverything: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  const patient = await r.readResource('Patient', id);
  const one = (n: string): string | undefined => [req.query?.[n]].flat().at(-1);
  const typeFilter = one('_type')?.split(',').map((t) => t.trim()).filter(Boolean);
  const since = one('_since');

  const pairs: [string, string][] = [];
  for (const [type, params] of patientCompartmentParams()) {
    if (typeFilter && !typeFilter.includes(type)) continue;
    // AuditEvents about the patient are the access log, not the patient's record (server/src/audit).
    if (type === 'AuditEvent') continue;
    // Denied types are left out; the others carry the caller's access in the one statement.
    if (!r.ctx.access.can(type, 's')) continue;
    for (const p of params) pairs.push([type, p]);
  }
  const resources = await r.compartmentResources('Patient', id, pairs, since);
  const entry: BundleEntry[] = [];
  if (!typeFilter || typeFilter.includes('Patient')) {
    entry.push({ fullUrl: `${r.ctx.fhirBase}/Patient/${id}`, resource: patient, search: { mode: 'match' } });
  }
  for (const res of resources) {
    if (res.resourceType === 'Patient' && res.id === id) continue;
    entry.push({ fullUrl: `${r.ctx.fhirBase}/${res.resourceType}/${res.id}`, resource: res as Resource, search: { mode: 'match' } });
  }
  if (since && !/^\d{4}-\d{2}-\d{2}T/.test(since)) fail('invalid', `Invalid _since '${since}': expected an instant`, '_since');
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
  return [allOk, bundle];
};
