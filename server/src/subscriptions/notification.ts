import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import type { NotificationType, PayloadContent, SubscriptionRow } from './channel.ts';

/**
 * The notification Bundle of the Backport IG 1.1 for R4
 * (https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription-notification-r4.html):
 * Bundle.type `history`; the first entry is the status `Parameters`
 * (profile backport-subscription-status-r4: subscription, topic, status, type,
 * events-since-subscription-start, notification-event* {event-number, timestamp, focus}); then one
 * entry per event focus, shaped by the payload content
 * (https://hl7.org/fhir/uv/subscriptions-backport/payloads.html):
 * - empty: no focus and no further entries;
 * - id-only: focus, and an entry with fullUrl and request only;
 * - full-resource: focus, and an entry with the resource.
 * An event the subscriber may not see now is numbered like any other but carries neither focus nor
 * entry: it reads exactly like an `empty` event (no type, no id, nothing of the hidden record).
 */
export const STATUS_PROFILE = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4';
export const NOTIFICATION_PROFILE = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4';

/** One event as it goes out, already access-filtered (./events.ts `loadEvents`). */
export interface NotificationEvent {
  number: number;
  timestamp: string;
  /** Present only when the payload names resources and the subscriber may see this one. */
  focus?: {
    type: string;
    id: string;
    change: 'create' | 'update' | 'delete';
    /** full-resource only, and only what the subscriber may read now. */
    resource?: Resource;
  };
}

export interface StatusOptions {
  /** Events ever recorded (events-since-subscription-start). */
  eventsSinceStart: number;
  status?: SubscriptionRow['status'];
  /** Our words for an error state (subscription-error code text), never the receiver's. */
  error?: string;
}

/** The status Parameters (backport-subscription-status-r4). */
export function statusParameters(
  fhirBase: string,
  sub: Pick<SubscriptionRow, 'id' | 'topic' | 'status' | 'payload'>,
  type: NotificationType,
  options: StatusOptions,
  events: NotificationEvent[] = []
): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'subscription', valueReference: { reference: `${fhirBase}/Subscription/${sub.id}` } }];
  // IG: topic SHOULD NOT be present with empty payloads.
  if (sub.topic && sub.payload !== 'empty') parameter.push({ name: 'topic', valueCanonical: sub.topic });
  parameter.push({ name: 'status', valueCode: options.status ?? sub.status });
  parameter.push({ name: 'type', valueCode: type });
  if (sub.topic) parameter.push({ name: 'events-since-subscription-start', valueString: String(options.eventsSinceStart) });
  for (const e of events) {
    const part: ParametersParameter[] = [
      { name: 'event-number', valueString: String(e.number) },
      { name: 'timestamp', valueInstant: e.timestamp },
    ];
    if (e.focus) part.push({ name: 'focus', valueReference: { reference: `${fhirBase}/${e.focus.type}/${e.focus.id}` } });
    parameter.push({ name: 'notification-event', part });
  }
  if (options.error) {
    parameter.push({
      name: 'error',
      valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscription-error', code: 'no-response' }], text: options.error },
    });
  }
  return { resourceType: 'Parameters', id: randomUUID(), meta: { profile: [STATUS_PROFILE] }, parameter };
}

function focusEntry(fhirBase: string, e: NotificationEvent, content: PayloadContent): BundleEntry | undefined {
  const f = e.focus;
  if (!f || content === 'empty') return undefined;
  const entry: BundleEntry = {
    fullUrl: `${fhirBase}/${f.type}/${f.id}`,
    request:
      f.change === 'create'
        ? { method: 'POST', url: f.type }
        : { method: f.change === 'delete' ? 'DELETE' : 'PUT', url: `${f.type}/${f.id}` },
    response: { status: f.change === 'create' ? '201' : '200' },
  };
  if (content === 'full-resource' && f.resource) entry.resource = f.resource;
  return entry;
}

/**
 * A notification Bundle. `content` is the payload level (the subscription's, or what $events asked
 * for); `events` are already filtered for access.
 */
export function notificationBundle(
  fhirBase: string,
  sub: Pick<SubscriptionRow, 'id' | 'topic' | 'status' | 'payload'>,
  type: NotificationType,
  options: StatusOptions & { content?: PayloadContent; now?: Date },
  events: NotificationEvent[] = []
): Bundle {
  const content = options.content ?? sub.payload;
  const shown = content === 'empty' ? events.map((e) => ({ number: e.number, timestamp: e.timestamp })) : events;
  const status = statusParameters(fhirBase, { ...sub, payload: content }, type, options, shown);
  const entry: BundleEntry[] = [
    {
      fullUrl: `urn:uuid:${status.id}`,
      resource: status,
      request: { method: 'GET', url: `Subscription/${sub.id}/$status` },
      response: { status: '200' },
    },
  ];
  for (const e of shown) {
    const fe = focusEntry(fhirBase, e, content);
    if (fe) entry.push(fe);
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [NOTIFICATION_PROFILE] },
    type: 'history',
    timestamp: (options.now ?? new Date()).toISOString(),
    entry,
  };
}
