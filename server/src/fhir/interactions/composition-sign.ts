import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { countersignComposition, resultBundle, signComposition } from '../../clinical/notes/sign.ts';
import type { Repository } from '../../store/repository.ts';

/**
 * POST Composition/{id}/$sign and POST Composition/{id}/$countersign: the author signs a note,
 * a supervisor countersigns it (server/src/clinical/notes/sign.ts). No body. Answers 200 with a
 * collection Bundle of what was written: the Composition version, the Provenance holding the
 * signature, and (for $sign) the DocumentReference rendering.
 */
export const compositionSign: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  return [allOk, resultBundle(await signComposition(repo as Repository, req.params.id))];
};

export const compositionCountersign: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  return [allOk, resultBundle(await countersignComposition(repo as Repository, req.params.id))];
};
