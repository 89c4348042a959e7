import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { patientScores, summaryParameters } from '../../clinical/outcomes/summary.ts';
import type { Repository } from '../../store/repository.ts';

/**
 * Patient/[id]/$mbc-summary (GET or POST, no input parameters): measurement-based-care outcomes
 * of one patient per instrument — baseline, latest, change, response, remission, reliable
 * improvement — and recovery (clinical/outcomes/definitions.ts cites each definition). Only scored
 * totals the caller may see count: the patient is read and the scores searched through the
 * repository, so the access policy applies. Answer: Parameters (shape in clinical/README.md).
 */
export const mbcSummary: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  await r.readResource('Patient', id); // 404/403 as for a read of the patient.
  return [allOk, summaryParameters(id, await patientScores(r, id))];
};
