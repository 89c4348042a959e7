import type { Bundle } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/context.ts';

/**
 * CONTRACT between the delivery loop (./delivery.ts) and the channels (./channels/*): the loop
 * decides what is due and builds the notification Bundle; a channel only carries it.
 */

/** Backport IG 1.1 notification types (SubscriptionStatus.type). */
export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

export type ChannelType = 'rest-hook' | 'websocket';
export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

/** One Subscription as the delivery side keeps it (a row of table `subscription`, migration 008). */
export interface SubscriptionRow {
  tenant: string;
  /** Subscription.id */
  id: string;
  /** requested | active | error | off (R4 Subscription.status) */
  status: 'requested' | 'active' | 'error' | 'off';
  /** Topic canonical (Backport) or undefined for a classic R4 criteria subscription. */
  topic?: string;
  /** Classic R4 criteria (a search expression) when there is no topic. */
  criteria?: string;
  channelType: ChannelType;
  /** rest-hook: the endpoint URL. */
  endpoint?: string;
  /** rest-hook: channel.header values ("Name: value"). */
  headers: string[];
  payload: PayloadContent;
  /** channel.payload MIME type (application/fhir+json). */
  contentType?: string;
  heartbeatSeconds?: number;
  /** Seconds a receiver has to answer a notification. */
  timeoutSeconds: number;
  /** Most events in one notification. */
  maxCount: number;
  /** Events ever recorded for this subscription (the highest event number). */
  eventsSinceStart: number;
  /** Who created or last changed the Subscription: delivery checks what this principal may see *now*. */
  principal: AccessContext;
}

export interface Channel {
  readonly type: ChannelType;
  /** Whether this process can deliver for the subscription now (websocket: a socket here is bound to it). */
  canDeliver(sub: SubscriptionRow): boolean;
  /** Sends one notification; resolves when the receiver took it, rejects (Error, no PHI in message) otherwise. */
  send(sub: SubscriptionRow, bundle: Bundle, type: NotificationType): Promise<void>;
}
