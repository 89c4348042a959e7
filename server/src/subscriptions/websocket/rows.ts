import { randomUUID } from 'node:crypto';
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.ts';
import type { SubscriptionRow } from '../channel.ts';

/**
 * PROVISIONAL: until the subscriptions core lands its row loader and notification builder, the
 * websocket channel reads Subscriptions from the resource table and builds its own handshake.
 */
export async function loadBindableRows(db: Queryable, tenant: string, ids: string[]): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<{ content: string }>(
    "SELECT content FROM resource WHERE tenant = $1 AND type = 'Subscription' AND id = ANY($2) AND NOT deleted",
    [tenant, ids]
  );
  return rows
    .map((r) => JSON.parse(r.content) as Subscription)
    .filter((s) => s.channel?.type === 'websocket' && s.status !== 'off')
    .map((s) => ({
      tenant,
      id: s.id as string,
      status: s.status,
      criteria: s.criteria,
      channelType: 'websocket',
      headers: [],
      payload: 'id-only',
      timeoutSeconds: 10,
      maxCount: 100,
      eventsSinceStart: 0,
      principal: { tenant, clientId: undefined, scope: '' },
    }));
}

/** A handshake notification (Backport IG 1.1, R4 profile backport-subscription-notification-r4). */
export function handshakeFor(row: SubscriptionRow, fhirBase: string, now: Date): Bundle {
  const status: Parameters = {
    resourceType: 'Parameters',
    id: randomUUID(),
    meta: { profile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4'] },
    parameter: [
      { name: 'subscription', valueReference: { reference: `${fhirBase}/Subscription/${row.id}` } },
      ...(row.topic ? [{ name: 'topic', valueCanonical: row.topic }] : []),
      { name: 'status', valueCode: row.status },
      { name: 'type', valueCode: 'handshake' },
      { name: 'events-since-subscription-start', valueString: String(row.eventsSinceStart) },
    ],
  };
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'history',
    timestamp: now.toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${status.id}`,
        resource: status,
        request: { method: 'GET', url: `${fhirBase}/Subscription/${row.id}/$status` },
        response: { status: '200' },
      },
    ],
  };
}
