import type { FhirRequest } from '@medplum/fhir-router';
import type { Parameters } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';

/**
 * Input parameters of the Subscription operations ($status, $events): from the query string (GET)
 * or a Parameters body (POST), by name, repeated values in order. Unknown names are a 400 naming them.
 */
export function operationInput(req: FhirRequest, operation: string, names: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: unknown) => {
    if (!names.includes(name)) fail('invalid', `Unknown parameter '${name}' for ${operation}`, name);
    if (typeof value !== 'string' || !value) fail('invalid', `Parameter '${name}' needs a value`, name);
    out.set(name, [...(out.get(name) ?? []), ...value.split(',')]);
  };
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (k.startsWith('_')) continue; // _format and friends belong to the HTTP layer
    for (const x of [v].flat()) add(k, x);
  }
  if (req.method === 'POST' && req.body && typeof req.body === 'object' && Object.keys(req.body).length) {
    const body = req.body as Parameters;
    if (body.resourceType !== 'Parameters') fail('invalid', `The body of POST ${operation} must be a Parameters resource`, 'resourceType');
    for (const p of body.parameter ?? []) add(p.name, p.valueString ?? p.valueCode ?? p.valueId ?? p.valueInteger?.toString());
  }
  return out;
}
