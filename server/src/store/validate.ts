import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { isKnownResourceType } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';
import { conformanceProblems } from './conformance.ts';

/**
 * Structural validation of every write against the R4 StructureDefinitions (cardinality, types,
 * required elements, primitive formats, invariants) with @medplum/core, optionally against a
 * profile, plus the R4 rules it leaves out (./conformance.ts: JSON object types, empty arrays and
 * strings, dateTime zones, one choice per [x], required bindings). Errors come back as one 400
 * OperationOutcome whose issues name each element path.
 */
export function validate(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) fail('invalid', 'The body is not a FHIR resource');
  if (typeof resource.resourceType !== 'string' || !isKnownResourceType(resource.resourceType)) {
    fail('invalid', `Unknown resource type '${String((resource as { resourceType?: unknown }).resourceType ?? '')}'`, 'resourceType');
  }
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  // Our own check of choice types is an error, so the validator's warning for it would only repeat it.
  issues = issues.filter((i) => !(i.severity === 'warning' && i.details?.text?.startsWith('Conflicting choice of type')));
  for (const p of conformanceProblems(resource)) {
    issues.push({ severity: 'error', code: 'invalid', details: { text: p.text }, expression: [p.path] });
  }
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
    throw asInvalid(new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues }));
  }
  return issues;
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
