import type { Subscription } from '@medplum/fhirtypes';
import { SUBSCRIPTION_OWNER, subscriptionOwner } from '../access/policy.ts';
import { loadConfig } from '../config.ts';
import { fail } from '../kernel/outcome.ts';
import type { WriteEvent, WriteHook } from '../store/hooks.ts';
import { CHANGE_CHANNEL, EVENT_CHANNEL, PROCESS_TAG, WEBSOCKET_MARK, deleteRow, invalidate, matchingSubscriptions, txQuery, upsertRow } from './registry.ts';
import { type SubscriptionSpec, criteriaOf, parseSubscription, sameChannel } from './subscription.ts';
import { changeOf } from './topics.ts';

/**
 * The write side of Subscriptions, as write hooks (store/hooks.ts) inside the write's transaction:
 * - `subscriptionResourceHook`: a Subscription is checked (400 naming the element), its status is
 *   the server's (rest-hook topic subscriptions start `requested` until the handshake), and the
 *   `subscription` row is written with it.
 * - `outboxHook`: every change that matches a subscription becomes an event row with the next
 *   number of that subscription, so a committed change is never missed and a rolled-back one never
 *   sent. Numbers are taken under the subscription row's lock: gap-free, in commit order per
 *   subscription. After the commit the delivery loop of this process is woken; NOTIFY (sent by
 *   PostgreSQL at commit) wakes the others at once for websocket subscriptions (only the process
 *   holding the socket can send), else as a backup shortly after (./index.ts).
 */

/** Settings the hooks need (set by startSubscriptions; the environment's until then). */
const settings: { allowedHosts?: readonly string[] } = {};
export function configureSubscriptions(allowedHosts: readonly string[]): void {
  settings.allowedHosts = allowedHosts;
}
const allowedHosts = (): readonly string[] => (settings.allowedHosts ??= loadConfig({ SUBSCRIPTION_ALLOWED_HOSTS: process.env.SUBSCRIPTION_ALLOWED_HOSTS }).subscriptionAllowedHosts);

/** Delivery loops of this process to wake after a commit that recorded events. */
const wakers = new Set<() => void>();
export function onEventsCommitted(wake: () => void): () => void {
  wakers.add(wake);
  return () => wakers.delete(wake);
}
function wakeAll(): void {
  for (const w of wakers) w();
}

/** The status a client-written Subscription gets (the server owns it: R4 Subscription.status). */
function serverStatus(spec: SubscriptionSpec, requested: string | undefined, before: Subscription | undefined): SubscriptionSpec['status'] {
  if (requested === 'off') return 'off';
  if (requested === 'error') {
    if (before?.status === 'error') return 'error';
    fail('invalid', "Status 'error' is set by the server; ask for 'requested' or 'active'", 'Subscription.status');
  }
  if (requested !== 'requested' && requested !== 'active') fail('invalid', `Unknown status '${requested ?? ''}'`, 'Subscription.status');
  // Backport IG channels.html#rest-hook: requested until a handshake to the endpoint succeeds.
  // R4 criteria subscriptions have no handshake; websocket endpoints are verified by binding.
  if (spec.channelType !== 'rest-hook' || !spec.topic) return 'active';
  let previous: SubscriptionSpec | undefined;
  try {
    previous = before ? parseSubscription(before, allowedHosts()) : undefined;
  } catch {
    previous = undefined;
  }
  return before?.status === 'active' && previous && sameChannel(previous, spec) ? 'active' : 'requested';
}

export const subscriptionResourceHook: WriteHook = {
  name: 'subscription-resource',
  types: ['Subscription'],
  async beforeWrite(event: WriteEvent) {
    if (event.method === 'delete' || !event.after) return;
    const sub = event.after as Subscription;
    const spec = parseSubscription(sub, allowedHosts());
    const type = criteriaOf(spec).resourceType;
    // A subscriber hears only about what it may read; refusing up front beats a silent feed of nothing.
    if (type && !event.repo.ctx.access.can(type, 'r')) {
      fail('forbidden', `The granted access does not allow reading ${type}, which this subscription is about`, 'Subscription.criteria');
    }
    const status = serverStatus(spec, sub.status, event.before as Subscription | undefined);
    const next: Subscription = { ...sub, status };
    if (status !== 'error') delete next.error;
    // The owner tag is the server's: a person's Subscription carries theirs (access/policy.ts
    // ownSubscriptions lets them reach only those); nobody else may plant or keep one.
    const context = event.repo.ctx.access.context;
    const tags = (sub.meta?.tag ?? []).filter((t) => t.system !== SUBSCRIPTION_OWNER);
    const owner = context.userId || context.fhirUser ? subscriptionOwner(context) : undefined;
    if (owner) tags.push({ system: SUBSCRIPTION_OWNER, code: owner });
    next.meta = { ...sub.meta, tag: tags.length ? tags : undefined };
    if (!next.meta.tag) delete next.meta.tag;
    return next;
  },
  async afterWrite(event: WriteEvent) {
    const repo = event.repo;
    const tenant = repo.ctx.tenant;
    if (event.method === 'delete' || !event.after) {
      await deleteRow(repo, event.id);
    } else {
      const sub = event.after as Subscription;
      const spec = { ...parseSubscription(sub, allowedHosts()), status: sub.status as SubscriptionSpec['status'] };
      await upsertRow(repo, event.id, Number(sub.meta?.versionId), spec, repo.ctx.access.context, new Date());
    }
    // Other processes drop their matcher at commit (NOTIFY is transactional); this one after it.
    await txQuery(repo, 'SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, tenant]);
    repo.onAfterCommit(() => {
      invalidate(tenant);
      wakeAll();
    });
  },
};

export const outboxHook: WriteHook = {
  name: 'subscription-outbox',
  types: '*',
  async afterWrite(event: WriteEvent) {
    const { repo, resourceType } = event;
    if (resourceType === 'Subscription' || resourceType === 'AuditEvent') return;
    const change = changeOf(event.method, event.before);
    const { ids, websocket } = await matchingSubscriptions(repo, resourceType, change, event.before, event.after);
    if (ids.length === 0) return;
    const focus = event.after ?? event.before;
    const version = event.after ? Number(event.after.meta?.versionId) : Number(event.before?.meta?.versionId ?? 0) + 1;
    const now = new Date().toISOString();
    // Due now unless the subscription is backing off after failures (then its retry time stands).
    await txQuery(
      repo,
      `WITH bumped AS (
         UPDATE subscription SET events_since_start = events_since_start + 1,
           next_due = CASE WHEN attempts = 0 AND (next_due IS NULL OR next_due > $3::timestamptz) THEN $3::timestamptz ELSE next_due END
         WHERE tenant = $1 AND id = ANY($2::text[]) AND status <> 'off'
         RETURNING id, events_since_start),
       ins AS (
         INSERT INTO subscription_event (tenant, subscription_id, event_number, occurred_at, focus_type, focus_id, focus_version, change)
         SELECT $1, id, events_since_start, $3::timestamptz, $4, $5, $6, $7 FROM bumped RETURNING 1)
       SELECT (SELECT count(*) FROM ins) AS n, pg_notify($8, $9)`,
      [repo.ctx.tenant, [...ids].sort(), now, resourceType, focus?.id ?? event.id, version, change, EVENT_CHANNEL, websocket ? PROCESS_TAG + WEBSOCKET_MARK : PROCESS_TAG]
    );
    repo.onAfterCommit(wakeAll);
  },
};
