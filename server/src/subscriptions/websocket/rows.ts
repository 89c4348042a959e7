import type { Bundle } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.ts';
import { notificationBundle } from '../notification.ts';
import { type DeliveryRow, type RowRecord, toSubscriptionRow } from '../registry.ts';

/**
 * The Subscriptions a binding token names that can be bound now: still there, still on the
 * websocket channel, not off (the `subscription` table, migration 008, mirrors each version).
 */
export async function loadBindableRows(db: Queryable, tenant: string, ids: string[]): Promise<DeliveryRow[]> {
  const { rows } = await db.query<RowRecord>(
    "SELECT * FROM subscription WHERE tenant = $1 AND id = ANY($2::text[]) AND channel_type = 'websocket' AND status <> 'off' ORDER BY id",
    [tenant, ids]
  );
  return rows.map(toSubscriptionRow);
}

/**
 * The handshake a newly bound socket gets (IG channels.html#websockets: "one per Subscription
 * included in the token"), carrying the current events-since-subscription-start so a client that
 * reconnects knows what it may have missed (and can ask $events for it).
 */
export function handshakeFor(row: DeliveryRow, fhirBase: string, now: Date): Bundle {
  return notificationBundle(fhirBase, row, 'handshake', { eventsSinceStart: row.eventsSinceStart, now });
}
