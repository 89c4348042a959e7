import { allOk, created } from '@medplum/core';
import type { FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import { type Repository, wasCreatedByUpdate } from '../../store/repository.ts';
import { fail } from '../../kernel/outcome.ts';
import { parseIfMatch } from '../if-match.ts';
import { assertResourceType } from './search.ts';

/**
 * update (https://hl7.org/fhir/R4/http.html#update): 200 when a version was added, 201 when the
 * PUT created the resource with the client's id (update as create).
 */
export const update: FhirRouteHandler = async (req, repo): Promise<FhirResponse> => {
  const { resourceType, id } = req.params;
  assertResourceType(resourceType);
  const resource = req.body as Resource | undefined;
  if (!resource || typeof resource !== 'object') fail('invalid', 'The body must be a FHIR resource');
  if (resource.resourceType !== resourceType) {
    fail('invalid', `Resource type ${String(resource.resourceType)} in the body does not match ${resourceType} in the URL`, 'resourceType');
  }
  if (resource.id !== id) fail('invalid', `Resource id '${resource.id ?? ''}' in the body does not match '${id}' in the URL`, `${resourceType}.id`);
  const ifMatch = parseIfMatch(req.headers?.['if-match']);
  const result = await (repo as Repository).updateResource(resource, { ifMatch });
  return [wasCreatedByUpdate(result) ? created : allOk, result];
};
