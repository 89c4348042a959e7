import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Subscription } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { queryEvents } from '../../subscriptions/api.ts';
import { fail } from '../../kernel/outcome.ts';
import { operationInput } from './subscription-params.ts';

/**
 * Subscription/[id]/$events (GET or POST), Backport IG 1.1 OperationDefinition
 * backport-subscription-events
 * (https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-events.html):
 * a `query-event` notification Bundle with the stored events eventsSinceNumber..eventsUntilNumber
 * (inclusive; at most 100 per call), at the subscription's payload level or the `content` asked
 * for. Each focus is shown only if both the caller and the subscriber may see it now.
 */
const CONTENT = ['empty', 'id-only', 'full-resource'];

export const subscriptionEvents: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const sub = await r.readResource<Subscription>('Subscription', req.params.id);
  const input = operationInput(req, '$events', ['eventsSinceNumber', 'eventsUntilNumber', 'content']);
  const number = (name: string): number | undefined => {
    const v = input.get(name);
    if (!v) return undefined;
    if (v.length !== 1 || !/^\d{1,15}$/.test(v[0])) fail('invalid', `${name} must be one non-negative integer`, name);
    return Number(v[0]);
  };
  const since = number('eventsSinceNumber');
  const until = number('eventsUntilNumber');
  const content = input.get('content');
  if (content && (content.length !== 1 || !CONTENT.includes(content[0]))) {
    fail('invalid', `content must be one of ${CONTENT.join(', ')}`, 'content');
  }
  return [allOk, await queryEvents(r, sub.id as string, since, until, content?.[0] as 'empty' | 'id-only' | 'full-resource' | undefined)];
};
