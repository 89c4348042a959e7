import type { FhirRouteHandler } from '@medplum/fhir-router';
import { fail } from '../outcome.ts';

/**
 * Subscription/$get-ws-binding-token (type level, and Subscription/[id]/$get-ws-binding-token):
 * Backport IG 1.1 OperationDefinition backport-subscription-get-ws-binding-token. Output
 * Parameters: token, expiration, subscription (repeated), websocket-url.
 * (Stub: the websocket work fills this in; the subscriptions work routes it in ../routes.ts.)
 */
export const getWsBindingToken: FhirRouteHandler = async () => {
  fail('not-supported', 'websocket binding is not available yet');
};
