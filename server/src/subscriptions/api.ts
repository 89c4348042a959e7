import type { Bundle } from '@medplum/fhirtypes';
import { auditRequestScope } from '../audit/audit-trail.ts';
import { fail } from '../kernel/outcome.ts';
import type { Repository } from '../store/repository.ts';
import type { PayloadContent } from './channel.ts';
import { queryableOf, readEvents, repositoryFor, subscriberPolicy, visibleEvents } from './events.ts';
import { notificationBundle } from './notification.ts';
import { type DeliveryRow, type RowRecord, toSubscriptionRow, txQuery } from './registry.ts';

/**
 * What the REST operations (fhir/interactions/subscription-*.ts) and the websocket channel use.
 * See ./README.md "For the websocket channel".
 */
export { notificationBundle, statusParameters, type NotificationEvent } from './notification.ts';
export { readSubscriptionRow, toSubscriptionRow, type DeliveryRow } from './registry.ts';
export { readEvents, visibleEvents, subscriberPolicy, repositoryFor } from './events.ts';

/** The `subscription` rows of these ids in the repository's tenant (the caller checked access to the resources). */
export async function subscriptionRows(repo: Repository, ids: string[]): Promise<Map<string, DeliveryRow>> {
  if (ids.length === 0) return new Map();
  const rows = await txQuery<RowRecord>(repo, 'SELECT * FROM subscription WHERE tenant = $1 AND id = ANY($2::text[])', [repo.ctx.tenant, ids]);
  return new Map(rows.map((r) => [r.id, toSubscriptionRow(r)]));
}

const MAX_EVENTS = 100;

/**
 * $events: a query-event notification of the stored events `since`..`until` (default: the last
 * 100), each focus shown only if both the caller (`repo`) and the subscriber may see it now.
 */
export async function queryEvents(repo: Repository, id: string, since: number | undefined, until: number | undefined, content: PayloadContent | undefined): Promise<Bundle> {
  const row = (await subscriptionRows(repo, [id])).get(id);
  if (!row) fail('not-found', `Subscription/${id} not found`);
  const last = Math.min(until ?? row.eventsSinceStart, row.eventsSinceStart);
  const first = Math.max(1, since ?? last - MAX_EVENTS + 1);
  const records = last >= first ? await readEvents(repo, id, first, last, MAX_EVENTS) : [];
  const subscriber = repositoryFor(repo, await subscriberPolicy(row.principal, queryableOf(repo)));
  const level = content ?? row.payload;
  // id-only: read as full-resource, sent as ids (notificationBundle leaves the resources out), so
  // that the REST audit of a disclosure names what the ids disclosed (audit/fhir-audit.ts).
  const events = await visibleEvents([repo, subscriber], records, level === 'id-only' ? 'full-resource' : level);
  const scope = auditRequestScope.getStore();
  if (level === 'id-only' && scope) scope.disclosedByIdOnly = events.flatMap((e) => (e.focus?.resource ? [e.focus.resource] : []));
  return notificationBundle(repo.ctx.fhirBase, row, 'query-event', { eventsSinceStart: row.eventsSinceStart, content: level }, events);
}
