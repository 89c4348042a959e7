import { allOk, parseSearchRequest } from '@medplum/core';
import type { FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { ResourceType } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { parseIfMatch } from '../if-match.ts';

/**
 * Conditional delete (https://hl7.org/fhir/R4/http.html#3.1.0.7.1) that, unlike
 * @medplum/fhir-router's, honours If-Match: the one match is deleted only at that version.
 */
export const conditionalDelete: FhirRouteHandler = async (req, repo): Promise<FhirResponse> => {
  const search = parseSearchRequest(req.params.resourceType as ResourceType, req.query);
  await (repo as Repository).conditionalDelete(search, { ifMatch: parseIfMatch(req.headers?.['if-match']) });
  return [allOk];
};
