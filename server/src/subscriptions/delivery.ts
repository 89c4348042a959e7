import { randomUUID } from 'node:crypto';
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { isDisclosure } from '../access/accounting.ts';
import type { AccessPolicy } from '../access/policy.ts';
import { auditTrailFor } from '../audit/audit-trail.ts';
import { notificationDisclosureEvent } from '../audit/notification-disclosure.ts';
import type { BackgroundDeps, Round } from '../background.ts';
import { log } from '../log.ts';
import { Repository } from '../store/repository.ts';
import type { Channel, NotificationType } from './channel.ts';
import { postToEndpoint, type RestHookOptions } from './channels/rest-hook.ts';
import { type EventRecord, type Seen, eventsAsSeen, readEventsOf, seenBy, subscriberPolicy } from './events.ts';
import { type NotificationEvent, notificationBundle } from './notification.ts';
import { type DeliveryRow, type RowRecord, toSubscriptionRow, txQuery } from './registry.ts';

/**
 * The delivery loop (one round = `deliverDue()`): claim the subscriptions with something due,
 * commit the claim, send without any transaction open, then record the outcome.
 *
 * - Claim: `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)` sets a lease (owner, until). Two
 *   processes never claim the same subscription; a process killed mid-send leaves a lease that
 *   expires, and the next claimer sends again from delivered-through (at-least-once).
 * - Due: a handshake (status requested), events past delivered-through (at most maxCount per
 *   notification, in order), a heartbeat (heartbeatPeriod since the last notification taken), or a
 *   retry whose time has come.
 * - Failure: capped exponential backoff; after `subscriptionMaxAttempts` failures in a row the
 *   subscription goes to `error` (a new Subscription version written by the server) and stays
 *   there, its events still numbered, until the client asks for `requested`/`active` again
 *   (https://hl7.org/fhir/uv/subscriptions-backport/errors.html). A failed handshake is `error` at once
 *   (https://hl7.org/fhir/uv/subscriptions-backport/channels.html#rest-hook).
 */
export interface DeliveryOptions extends RestHookOptions {
  maxAttempts: number;
  backoffMaxSeconds: number;
}

const BATCH = 64;
const CONCURRENCY = 16;
/** Lease beyond the longest send: a crashed sender's claim expires after this. */
const leaseMs = (o: DeliveryOptions) => (o.maxTimeoutSeconds + 30) * 1000;

/** Delay before retry `attempts` (1-based): 1 s, 2 s, 4 s … capped. */
export function backoffMs(attempts: number, capSeconds: number): number {
  return Math.min(capSeconds * 1000, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** A channel that can list the subscriptions it can deliver here now (the websocket channel). */
type BindingChannel = Channel & { bound?(): { tenant: string; id: string }[] };

export function createDelivery(deps: BackgroundDeps, channels: { restHook: Channel; websocket: BindingChannel }, options: DeliveryOptions) {
  const owner = randomUUID();
  const { db, clock, fhirBase, config } = deps;

  const settings = (tenant: string) => ({ tenant, fhirBase, lenient: false, defaultCount: config.defaultCount, maxCount: config.maxCount, hooks: [] });
  const repoFor = (tenant: string, access?: AccessPolicy) =>
    access ? new Repository(db, { ...settings(tenant), access }) : Repository.forServer(db, { ...settings(tenant), reason: 'subscription status' });

  async function claim(now: Date): Promise<DeliveryRow[]> {
    const until = new Date(now.getTime() + leaseMs(options)).toISOString();
    const due = `next_due IS NOT NULL AND next_due <= $2::timestamptz AND status IN ('requested', 'active') AND (lease_until IS NULL OR lease_until < $2::timestamptz)`;
    const claimSql = (extra: string) =>
      `UPDATE subscription s SET lease_owner = $1, lease_until = $3::timestamptz
       FROM (SELECT tenant, id FROM subscription WHERE ${due} AND ${extra} ORDER BY next_due LIMIT ${BATCH} FOR UPDATE SKIP LOCKED) c
       WHERE s.tenant = c.tenant AND s.id = c.id RETURNING s.*`;
    const rows = (await db.query<RowRecord>(claimSql(`channel_type = 'rest-hook'`), [owner, now.toISOString(), until])).rows;
    // Websocket subscriptions go out only from the process holding their socket: claimed by key
    // (the channel's bound() list), so unbound ones with a backlog never crowd out the bound.
    const bound = channels.websocket.bound?.() ?? [];
    if (bound.length) {
      const claimed = await db.query<RowRecord>(
        claimSql(`channel_type = 'websocket' AND (tenant, id) IN (SELECT * FROM unnest($4::text[], $5::text[]))`),
        [owner, now.toISOString(), until, bound.map((r) => r.tenant), bound.map((r) => r.id)]
      );
      rows.push(...claimed.rows);
    }
    return rows.map(toSubscriptionRow);
  }

  /**
   * Releases claims with the outcome of successful sends, several in one statement (sends that
   * finish together are recorded together; none waits for a slower one). Resolves to whether any
   * of them is due again at once (events arrived while it was being sent).
   */
  async function succeededAll(done: { row: DeliveryRow; deliveredThrough: number; sent: boolean }[], now: Date): Promise<boolean> {
    const { rows } = await db.query<{ again: boolean }>(
      `UPDATE subscription s SET delivered_through = GREATEST(s.delivered_through, u.through), attempts = 0, error = NULL,
         last_sent_at = CASE WHEN u.sent THEN $2::timestamptz ELSE s.last_sent_at END,
         next_due = CASE
           WHEN s.events_since_start > GREATEST(s.delivered_through, u.through) THEN $2::timestamptz
           WHEN s.heartbeat_seconds IS NOT NULL THEN COALESCE(CASE WHEN u.sent THEN $2::timestamptz ELSE s.last_sent_at END, $2::timestamptz) + s.heartbeat_seconds * interval '1 second'
           ELSE NULL END,
         lease_owner = NULL, lease_until = NULL
       FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bool[]) AS u(tenant, id, through, sent)
       WHERE s.tenant = u.tenant AND s.id = u.id AND s.lease_owner = $1
       RETURNING s.events_since_start > s.delivered_through AS again`,
      [owner, now.toISOString(), done.map((d) => d.row.tenant), done.map((d) => d.row.id), done.map((d) => d.deliveredThrough), done.map((d) => d.sent)]
    );
    return rows.some((r) => r.again);
  }

  /** Collects successes and records them in batches while sends are still running. */
  function recorder(now: Date) {
    let queue: { row: DeliveryRow; deliveredThrough: number; sent: boolean }[] = [];
    let flushing: Promise<void> | undefined;
    let again = false;
    const flush = async (): Promise<void> => {
      while (queue.length) {
        const batch = queue;
        queue = [];
        try {
          if (await succeededAll(batch, now)) again = true;
        } catch (err) {
          // Our own failure: the leases expire and the events are sent again (at-least-once).
          log.error('subscription delivery: recording failed', { code: (err as { code?: string }).code, name: (err as Error)?.name });
        }
      }
      flushing = undefined;
    };
    return {
      succeeded(row: DeliveryRow, deliveredThrough: number, sent: boolean): void {
        queue.push({ row, deliveredThrough, sent });
        flushing ??= Promise.resolve().then(flush);
      },
      async settled(): Promise<boolean> {
        while (flushing) await flushing;
        return again;
      },
    };
  }

  /**
   * The server's own change of a Subscription's status: a new version of the resource (so a client
   * reading it sees it) and the row, in one transaction. Written without write hooks, so it
   * triggers no subscription events. If the client changed the Subscription meanwhile, theirs stands.
   */
  async function setStatus(row: DeliveryRow, status: 'active' | 'error', error: string | undefined, now: Date): Promise<void> {
    const repo = repoFor(row.tenant);
    await repo.withTransaction(async (tx) => {
      const rows = await txQuery<{ version: number }>(tx, 'SELECT version FROM subscription WHERE tenant = $1 AND id = $2 FOR UPDATE', [row.tenant, row.id]);
      if (rows[0]?.version !== row.version) return;
      let current: Subscription;
      try {
        current = await tx.readResource<Subscription>('Subscription', row.id);
      } catch {
        return;
      }
      const next: Subscription = { ...current, status };
      if (error) next.error = error;
      else delete next.error;
      const stored = await tx.updateResource(next, { ifMatch: String(row.version) });
      await txQuery(
        tx,
        `UPDATE subscription SET status = $3, version = $4, error = $5,
           attempts = CASE WHEN $3 = 'active' THEN 0 ELSE attempts END,
           last_sent_at = CASE WHEN $3 = 'active' THEN $6::timestamptz ELSE last_sent_at END,
           next_due = CASE WHEN $3 <> 'active' THEN NULL
             WHEN events_since_start > delivered_through THEN $6::timestamptz
             WHEN heartbeat_seconds IS NOT NULL THEN $6::timestamptz + heartbeat_seconds * interval '1 second'
             ELSE NULL END
         WHERE tenant = $1 AND id = $2`,
        [row.tenant, row.id, status, Number(stored.meta?.versionId), error ?? null, now.toISOString()]
      );
    });
    await release(row);
  }

  async function release(row: DeliveryRow, retryAt?: Date): Promise<void> {
    await db.query(
      `UPDATE subscription SET lease_owner = NULL, lease_until = NULL${retryAt ? ', next_due = $4::timestamptz' : ''}
       WHERE tenant = $1 AND id = $2 AND lease_owner = $3`,
      retryAt ? [row.tenant, row.id, owner, retryAt.toISOString()] : [row.tenant, row.id, owner]
    );
  }

  async function failed(row: DeliveryRow, reason: string, now: Date): Promise<void> {
    if (row.channelType === 'websocket') {
      // The socket went away: nothing is lost (delivered-through did not move); the client binds
      // again and gets the rest. Only endpoints we push to can put a subscription in error.
      await release(row, new Date(now.getTime() + 1000));
      return;
    }
    const attempts = row.attempts + 1;
    log.error('subscription notification failed', { tenant: row.tenant, subscription: row.id, attempts, reason });
    if (attempts >= options.maxAttempts) {
      await setStatus(row, 'error', `Delivery failed ${attempts} times; last: ${reason}`, now);
      return;
    }
    const retryAt = new Date(now.getTime() + backoffMs(attempts, options.backoffMaxSeconds));
    await db.query(
      `UPDATE subscription SET attempts = $3, error = $4, next_due = $5::timestamptz, lease_owner = NULL, lease_until = NULL
       WHERE tenant = $1 AND id = $2 AND lease_owner = $6`,
      [row.tenant, row.id, attempts, reason, retryAt.toISOString(), owner]
    );
  }

  function channelOf(row: DeliveryRow): Channel {
    return row.channelType === 'websocket' ? channels.websocket : channels.restHook;
  }

  async function send(row: DeliveryRow, bundle: Bundle, type: NotificationType): Promise<void> {
    await channelOf(row).send(row, bundle, type);
  }

  type Recorder = ReturnType<typeof recorder>;
  /** What a round read for one subscription before sending: its next events, and what its subscriber may see of them. */
  interface Prepared {
    records: EventRecord[];
    seen?: Seen;
  }
  const keyOf = (row: { tenant: string; id: string }) => `${row.tenant}/${row.id}`;
  const hasEvents = (row: DeliveryRow) => row.status !== 'requested' && row.eventsSinceStart > row.deliveredThrough;

  /**
   * The reads of a round, batched: the next events of every claimed subscription in one statement,
   * then, per subscriber (subscriptions written with the same access share one), what that
   * subscriber may see of all their focus resources in one statement. A subscriber whose access
   * cannot be worked out now is left out (its subscriptions are released and retried).
   */
  async function prepare(rows: DeliveryRow[], now: Date): Promise<Map<string, Prepared>> {
    const out = new Map<string, Prepared>();
    const wanted = rows.filter(hasEvents);
    const records = await readEventsOf(
      db,
      wanted.map((r) => ({ tenant: r.tenant, id: r.id, from: r.deliveredThrough + 1, until: r.eventsSinceStart, limit: r.topic ? r.maxCount : 1 }))
    );
    const groups = new Map<string, DeliveryRow[]>();
    for (const row of wanted) {
      const recs = records.get(keyOf(row)) ?? [];
      out.set(keyOf(row), { records: recs });
      if (recs.length === 0 || row.payload === 'empty') continue;
      const k = `${row.tenant}\n${JSON.stringify(row.principal)}`;
      const list = groups.get(k);
      if (list) list.push(row);
      else groups.set(k, [row]);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        try {
          const subscriber = repoFor(group[0].tenant, await subscriberPolicy(group[0].principal, db, now.getTime()));
          const keys = new Map<string, { type: string; id: string }>();
          for (const row of group) for (const r of out.get(keyOf(row))?.records ?? []) keys.set(`${r.focus_type}/${r.focus_id}`, { type: r.focus_type, id: r.focus_id });
          const seen = await seenBy(subscriber, [...keys.values()]);
          for (const row of group) (out.get(keyOf(row)) as Prepared).seen = seen;
        } catch (err) {
          log.error('subscription delivery: access could not be evaluated', { tenant: group[0].tenant, code: (err as { code?: string }).code, name: (err as Error)?.name });
          for (const row of group) out.delete(keyOf(row));
        }
      })
    );
    return out;
  }

  async function deliverOne(row: DeliveryRow, now: Date, rec: Recorder, prepared: Map<string, Prepared>): Promise<void> {
    if (row.channelType === 'websocket' && !channels.websocket.canDeliver(row)) return release(row);
    const opts = { eventsSinceStart: row.eventsSinceStart, now };
    if (row.status === 'requested') {
      try {
        await send(row, notificationBundle(fhirBase, row, 'handshake', { ...opts, status: 'requested' }), 'handshake');
      } catch (err) {
        log.error('subscription handshake failed', { tenant: row.tenant, subscription: row.id, reason: (err as Error).message });
        await setStatus(row, 'error', `Handshake failed: ${(err as Error).message}`, now);
        return;
      }
      await setStatus(row, 'active', undefined, now);
      return;
    }
    if (!hasEvents(row)) {
      const heartbeatDue = row.heartbeatSeconds !== undefined && row.topic && (row.lastSentAt?.getTime() ?? 0) + row.heartbeatSeconds * 1000 <= now.getTime();
      if (!heartbeatDue) return rec.succeeded(row, row.deliveredThrough, false);
      try {
        await send(row, notificationBundle(fhirBase, row, 'heartbeat', opts), 'heartbeat');
      } catch (err) {
        return failed(row, (err as Error).message, now);
      }
      return rec.succeeded(row, row.deliveredThrough, true);
    }
    const ready = prepared.get(keyOf(row));
    if (!ready) return release(row, new Date(now.getTime() + 5000)); // its access could not be evaluated: later
    const { records, seen } = ready;
    if (records.length === 0) return rec.succeeded(row, row.eventsSinceStart, false); // pruned or deleted: nothing to send
    const last = Number(records.at(-1)?.event_number);
    const events = eventsAsSeen(row.topic ? records : records.slice(0, 1), seen ? [seen] : [], row.payload);
    try {
      if (row.topic) {
        await send(row, notificationBundle(fhirBase, row, 'event-notification', opts, events), 'event-notification');
      } else {
        await sendClassic(row, events[0]);
      }
    } catch (err) {
      return failed(row, (err as Error).message, now);
    }
    rec.succeeded(row, last, true);
    accountFor(row, row.topic ? events : events.slice(0, 1), seen);
  }

  /**
   * A notification that reached a recipient outside the treating clinic is a disclosure
   * (access/accounting.ts): recorded once the channel took it (rest-hook: the endpoint answered
   * 2xx; websocket: sent), once per notification sent — a failed attempt disclosed nothing. What
   * it named: the focus of each event shown (in full, or its id only); a classic subscription
   * without a payload sends no body and discloses no record.
   */
  function accountFor(row: DeliveryRow, events: NotificationEvent[], seen: Seen | undefined): void {
    if (row.payload === 'empty' || !seen || !isDisclosure(row.principal)) return;
    if (!row.topic && row.payload !== 'full-resource') return;
    const resources = events.flatMap((e) => {
      const r = e.focus ? seen.get(`${e.focus.type}/${e.focus.id}`) : undefined;
      return r ? [r] : [];
    });
    const event = notificationDisclosureEvent({ tenant: row.tenant, principal: row.principal, subscriptionId: row.id, channel: row.channelType, content: row.payload, resources });
    if (event) auditTrailFor(db).record(row.tenant, event);
  }

  /** R4 criteria subscription: POST with no body, or the resource when a payload type was asked for. */
  async function sendClassic(row: DeliveryRow, event: ReturnType<typeof eventsAsSeen>[number]): Promise<void> {
    if (row.channelType !== 'rest-hook') throw new Error('criteria subscriptions use rest-hook');
    const body = row.payload === 'full-resource' && event.focus?.resource ? JSON.stringify(event.focus.resource) : undefined;
    await postToEndpoint(row, body, options);
  }

  return {
    owner,
    /**
     * One round: everything due now, claimed in one statement, its reads batched (`prepare`), sent
     * concurrently, successes recorded in batches. Resolves to the number of subscriptions handled,
     * and whether more is due at once (a full batch, or events that arrived during a send).
     */
    async deliverDue(): Promise<Round> {
      const now = clock.now();
      const rows = await claim(now);
      if (rows.length === 0) return { done: 0, more: false };
      const rec = recorder(now);
      let prepared: Map<string, Prepared>;
      try {
        prepared = await prepare(rows, now);
      } catch (err) {
        log.error('subscription delivery error', { code: (err as { code?: string }).code, name: (err as Error)?.name });
        prepared = new Map(); // event rows are released and retried; handshakes and heartbeats go on
      }
      let next = 0;
      const worker = async () => {
        while (next < rows.length) {
          const row = rows[next++];
          try {
            await deliverOne(row, now, rec, prepared);
          } catch (err) {
            // Our own failure (database, policy): not the receiver's fault; try again shortly.
            log.error('subscription delivery error', { tenant: row.tenant, subscription: row.id, code: (err as { code?: string }).code, name: (err as Error)?.name });
            await release(row, new Date(now.getTime() + 5000)).catch(() => undefined);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, rows.length) }, worker));
      const again = await rec.settled();
      return { done: rows.length, more: again || rows.length >= BATCH };
    },
  };
}
