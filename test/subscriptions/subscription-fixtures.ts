import type { Subscription } from '@medplum/fhirtypes';

/** Subscription resources as a Backport IG 1.1 client writes them (profile backport-subscription). */
export const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

export function topicSubscription(topic: string, endpoint: string, content: string, extra: { filters?: string[]; headers?: string[]; heartbeat?: number; maxCount?: number; timeout?: number } = {}): Subscription {
  const channelExt: object[] = [];
  if (extra.heartbeat !== undefined) channelExt.push({ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: extra.heartbeat });
  if (extra.timeout !== undefined) channelExt.push({ url: `${BP}/backport-timeout`, valueUnsignedInt: extra.timeout });
  if (extra.maxCount !== undefined) channelExt.push({ url: `${BP}/backport-max-count`, valuePositiveInt: extra.maxCount });
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BP}/backport-subscription`] },
    status: 'requested',
    reason: 'test',
    criteria: topic,
    ...(extra.filters ? { _criteria: { extension: extra.filters.map((f) => ({ url: `${BP}/backport-filter-criteria`, valueString: f })) } } : {}),
    channel: {
      type: 'rest-hook',
      endpoint,
      header: extra.headers,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: content }] },
      ...(channelExt.length ? { extension: channelExt } : {}),
    },
  } as Subscription;
}

