import { type Operation, applyPatch, deepClone, fhirpathPatchTypedValue, parseFhirPathPatchParameters, toTypedValue } from '@medplum/core';
import type { Parameters, Resource } from '@medplum/fhirtypes';
import { carryDecimals } from '../kernel/json.ts';
import { fail } from '../kernel/outcome.ts';
import { carryFhirPathPatchDecimals, carryPatchDecimals } from './decimals.ts';

/**
 * The next version of `current` under a patch (https://hl7.org/fhir/R4/http.html#patch): a JSON
 * Patch (RFC 6902) or a FHIRPath Patch (Parameters). `current` is left as it was; the copy keeps
 * the text of the decimals the patch did not touch, and takes the text of those it wrote.
 * A patch that fails, or that would change the resource's type or id, changes nothing: 422 / 400.
 */
export function patched<T extends Resource>(current: T, patch: Operation[] | Parameters): T {
  const { resourceType, id } = current;
  const next = deepClone(current);
  carryDecimals(current, next);
  if (Array.isArray(patch)) {
    patch.forEach((op, i) => {
      const o = op as { op?: unknown; path?: unknown } | null;
      if (!o || typeof o !== 'object' || typeof o.op !== 'string' || typeof o.path !== 'string') {
        fail('invalid', `JSON Patch operation ${i} must be an object with an "op" and a "path" (RFC 6902)`);
      }
    });
    const errors = applyPatch(next, patch).filter(Boolean);
    if (errors.length) fail('unprocessable', `JSON Patch failed: ${errors.map((e) => e?.message).join('; ')}`);
    carryPatchDecimals(patch, next);
  } else {
    try {
      fhirpathPatchTypedValue(toTypedValue(next), parseFhirPathPatchParameters(patch));
      carryFhirPathPatchDecimals(patch, next);
    } catch (err) {
      fail('unprocessable', `FHIRPath Patch failed: ${(err as Error).message}`);
    }
  }
  if (next.resourceType !== resourceType || next.id !== id) fail('invalid', 'A patch may not change resourceType or id', `${resourceType}.id`);
  return next;
}
