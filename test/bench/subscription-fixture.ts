import type { Observation, Subscription } from '@medplum/fhirtypes';

/**
 * A topic-based Subscription as a client writes one under the Backport IG 1.1 R4 profile
 * (http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription.html).
 */
const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const TOPIC_BASE = 'http://bh-fhir.org/fhir/SubscriptionTopic';

export interface SubscriptionOptions {
  /** Topic name under TOPIC_BASE, e.g. 'resource/Observation' or 'risk-task'. */
  topic: string;
  /** Backport filter criteria ('Type?param=value'). */
  filters?: string[];
  channel: 'rest-hook' | 'websocket';
  endpoint?: string;
  payload?: 'empty' | 'id-only' | 'full-resource';
  maxCount?: number;
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
}

export function topicSubscription(o: SubscriptionOptions): Subscription {
  const ext = [
    ...(o.maxCount ? [{ url: `${BP}/backport-max-count`, valuePositiveInt: o.maxCount }] : []),
    ...(o.heartbeatSeconds ? [{ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: o.heartbeatSeconds }] : []),
    ...(o.timeoutSeconds ? [{ url: `${BP}/backport-timeout`, valueUnsignedInt: o.timeoutSeconds }] : []),
  ];
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BP}/backport-subscription`] },
    status: 'requested',
    reason: 'test',
    criteria: `${TOPIC_BASE}/${o.topic}`,
    ...(o.filters?.length ? { _criteria: { extension: o.filters.map((f) => ({ url: `${BP}/backport-filter-criteria`, valueString: f })) } } : {}),
    channel: {
      type: o.channel,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: o.payload ?? 'id-only' }] },
      ...(ext.length ? { extension: ext } : {}),
    },
  } as Subscription;
}

export function heartRate(patientId: string, value = 72): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}
