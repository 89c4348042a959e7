import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { BACKPORT_SUBSCRIPTION_PROFILE } from './subscription.ts';
import { topics } from './topics.ts';

/**
 * What the CapabilityStatement says about Subscription (Backport IG 1.1,
 * https://hl7.org/fhir/uv/subscriptions-backport/components.html#subscriptiontopic): the topic
 * canonicals this server offers, one capabilitystatement-subscriptiontopic-canonical extension
 * each (IG 1.1 leaves SubscriptionTopic resources out of R4: this list is how clients discover
 * topics), the backport Subscription profile, and the operations.
 */
const TOPIC_CANONICAL = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical';
const OP = 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition';

export function subscriptionCapabilities(): Required<Pick<CapabilityStatementRestResource, 'extension' | 'supportedProfile' | 'operation'>> {
  return {
    extension: [...topics().keys()].map((canonical) => ({ url: TOPIC_CANONICAL, valueCanonical: canonical })),
    supportedProfile: [BACKPORT_SUBSCRIPTION_PROFILE],
    operation: [
      { name: 'status', definition: `${OP}/backport-subscription-status` },
      { name: 'events', definition: `${OP}/backport-subscription-events` },
      { name: 'get-ws-binding-token', definition: `${OP}/backport-subscription-get-ws-binding-token` },
    ],
  };
}
