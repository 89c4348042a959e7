import type { FhirRequest, FhirRouteHandler, RestInteraction } from '@medplum/fhir-router';
import { isRetryable } from '../db/database.ts';
import { fail } from '../kernel/outcome.ts';
import type { Repository } from '../store/repository.ts';
import { parseIfMatch } from './if-match.ts';
import { ownError } from './own-errors.ts';

/**
 * What every route handler gets checked before it runs and converted after it fails, whether the
 * request came over HTTP or as an entry of a batch or transaction (whose entries @medplum/fhir-router
 * hands straight to the handlers, headers taken from `entry.request`):
 *
 * - If-Match is one well-formed ETag or a 400 (./if-match.ts), then passed on in the one form
 *   every handler reads alike;
 * - create, update, patch and batch need a body;
 * - a type-level update, patch or delete needs search criteria: without them it is not a
 *   conditional write over every resource of the type, it is a mistake;
 * - an error that is not an OperationOutcomeError leaves as our own (./own-errors.ts), except a
 *   serialization failure inside a transaction, which must reach the transaction's retry as it is.
 */
export function guardRoute(handler: FhirRouteHandler, interaction: RestInteraction | undefined, typeLevel: boolean): FhirRouteHandler {
  return async (req, repo, router, options) => {
    try {
      checkIfMatch(req);
      if (interaction && NEEDS_BODY.has(interaction) && !req.params?.resourceType?.startsWith('$')) checkBody(req, interaction);
      if (typeLevel && interaction && CONDITIONAL.has(interaction)) checkCriteria(req);
      return await handler(req, repo, router, options);
    } catch (err) {
      if (isRetryable(err) && (repo as Repository).transactional) throw err;
      throw ownError(err);
    }
  };
}

const NEEDS_BODY = new Set<RestInteraction>(['create', 'update', 'patch', 'batch']);
const CONDITIONAL = new Set<RestInteraction>(['update', 'patch', 'delete']);

function checkIfMatch(req: FhirRequest): void {
  const headers = req.headers;
  if (!headers || headers['if-match'] === undefined) return;
  const tag = parseIfMatch(headers['if-match']);
  // Handlers of @medplum/fhir-router take the first quoted string: give them exactly the tag.
  req.headers = { ...headers, 'if-match': `"${tag}"` };
}

function checkBody(req: FhirRequest, interaction: RestInteraction): void {
  const body = req.body as unknown;
  if (body === undefined || body === '') {
    fail('invalid', `The request has no body: ${interaction === 'patch' ? 'a patch needs a JSON Patch or FHIRPath Patch' : `${ARTICLE[interaction]} needs a FHIR resource`}`);
  }
  const patchArray = interaction === 'patch' && Array.isArray(body);
  if (!patchArray && (body === null || typeof body !== 'object' || Array.isArray(body))) {
    const what = interaction === 'patch' ? 'a JSON Patch (an array) or a FHIRPath Patch (Parameters)' : 'a FHIR resource (a JSON object)';
    fail('invalid', `The body must be ${what}, not ${body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`}`);
  }
}
const ARTICLE: Partial<Record<RestInteraction, string>> = { create: 'a create', update: 'an update', batch: 'a batch or transaction' };

/**
 * Query parameters that shape or format a result but select nothing: alone they are no criteria
 * (`DELETE Patient?_format=json` would otherwise mean "every Patient").
 */
const NOT_CRITERIA = new Set(['_format', '_pretty', '_summary', '_elements', '_count', '_sort', '_total', '_offset', '_include', '_revinclude', '_contained', '_containedType']);

function checkCriteria(req: FhirRequest): void {
  const names = Object.keys(req.query ?? {}).filter((k) => !NOT_CRITERIA.has(k));
  if (names.length === 0) {
    const type = req.params?.resourceType ?? '';
    fail(
      'invalid',
      `${req.method} ${type} needs search criteria (a conditional ${req.method === 'DELETE' ? 'delete' : req.method === 'PATCH' ? 'patch' : 'update'} such as ${req.method} ${type}?identifier=…); to change one resource, use ${req.method} ${type}/[id]`
    );
  }
}
