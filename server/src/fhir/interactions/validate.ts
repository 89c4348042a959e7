import { OperationOutcomeError, allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { OperationOutcome, Parameters, Resource, StructureDefinition } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { validate } from '../../store/validate.ts';
import { fail } from '../../kernel/outcome.ts';
import { assertResourceType } from './search.ts';

/**
 * $validate (http://hl7.org/fhir/R4/resource-operation-validate.html) at type and instance level.
 * The body is the resource, or Parameters with `resource` and optional `profile` (canonical URL of
 * a StructureDefinition stored in this tenant). Answers 200 with an OperationOutcome listing every
 * issue; nothing is stored.
 */
export const validateOperation: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const { resourceType, id } = req.params;
  assertResourceType(resourceType);
  let resource: Resource | undefined;
  let profileUrl = [req.query?.profile].flat().at(-1);
  const body = req.body as Resource | undefined;
  if (body?.resourceType === 'Parameters') {
    const params = (body as Parameters).parameter ?? [];
    resource = params.find((p) => p.name === 'resource')?.resource;
    profileUrl = params.find((p) => p.name === 'profile')?.valueUri ?? params.find((p) => p.name === 'profile')?.valueCanonical ?? profileUrl;
  } else if (body && typeof body === 'object' && body.resourceType) {
    resource = body;
  }
  if (!resource && id) resource = await r.readResource(resourceType, id);
  if (!resource) fail('invalid', 'Nothing to validate: send the resource, or Parameters with a `resource` part');
  if (resource.resourceType !== resourceType) {
    fail('invalid', `Resource type ${resource.resourceType} does not match ${resourceType}/$validate`, 'resourceType');
  }
  let profile: StructureDefinition | undefined;
  if (profileUrl) {
    const found = await r.searchParams('StructureDefinition', [['url', profileUrl], ['_count', '1']]);
    profile = found.entry?.[0]?.resource as StructureDefinition | undefined;
    if (!profile) fail('invalid', `Unknown profile '${profileUrl}': no StructureDefinition with that url`, 'profile');
  }
  let issues: OperationOutcome['issue'];
  try {
    issues = validate(resource, profile);
  } catch (err) {
    if (err instanceof OperationOutcomeError) issues = err.outcome.issue;
    else throw err;
  }
  const result: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: issues?.length ? issues : [{ severity: 'information', code: 'informational', diagnostics: 'Validation passed: no issues' }],
  };
  return [allOk, result];
};
