import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { isKnownResourceType } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';

/**
 * Structural validation of every write against the R4 StructureDefinitions (cardinality, types,
 * required elements, primitive formats) with @medplum/core, optionally against a profile.
 * Errors come back as one 400 OperationOutcome whose issues name each element path.
 */
export function validate(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) fail('invalid', 'The body is not a FHIR resource');
  if (typeof resource.resourceType !== 'string' || !isKnownResourceType(resource.resourceType)) {
    fail('invalid', `Unknown resource type '${String((resource as { resourceType?: unknown }).resourceType ?? '')}'`, 'resourceType');
  }
  try {
    return validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    throw asInvalid(err);
  }
}

/** A validation failure as our 'invalid' outcome, whose diagnostics carry the element path so a
 * client can find the problem without a guide. Other errors pass through unchanged. */
export function asInvalid(err: unknown): unknown {
  if (err instanceof OperationOutcomeError) {
    for (const issue of err.outcome.issue ?? []) {
      if (issue.details?.text) {
        issue.diagnostics = `${issue.details.text}${issue.expression?.length ? ` (at ${issue.expression.join(', ')})` : ''}`;
      }
    }
    err.outcome.id = 'invalid';
  }
  return err;
}
