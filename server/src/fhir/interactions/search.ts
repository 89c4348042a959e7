import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { allOk } from '@medplum/core';
import type { Repository } from '../../store/repository.ts';
import { isKnownResourceType } from '../../kernel/definitions.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * search-type and search-system (https://hl7.org/fhir/R4/http.html#search), by GET and by
 * POST [type]/_search. Parameters go to the SQL search engine as raw pairs, so composite
 * parameters, modifiers and lenient handling are decided there and nowhere else.
 */
export function queryPairs(query: FhirRequest['query']): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    if (Array.isArray(v)) for (const x of v) pairs.push([k, x]);
    else if (v !== undefined) pairs.push([k, v]);
  }
  return pairs;
}

export function assertResourceType(type: string): void {
  if (!isKnownResourceType(type)) fail('not-found', `Unknown resource type '${type}'`);
}

export const searchType: FhirRouteHandler = async (req, repo): Promise<FhirResponse> => {
  const { resourceType } = req.params;
  assertResourceType(resourceType);
  const pairs = queryPairs(req.query);
  if (req.method === 'POST' && req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
    // POST _search carries the parameters form-encoded in the body, possibly plus the URL.
    pairs.push(...queryPairs(req.body as FhirRequest['query']));
  }
  return [allOk, await (repo as Repository).searchParams(resourceType, pairs)];
};

export const searchSystem: FhirRouteHandler = async (req, repo): Promise<FhirResponse> => {
  return [allOk, await (repo as Repository).searchParams(undefined, queryPairs(req.query))];
};
