import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/context.ts';
import { consentChangeId, isExternal, onConsentChange } from '../access/disclosure.ts';
import { discloseAll } from '../access/notice.ts';
import { currentPrincipal } from '../access/person.ts';
import { type AccessPolicy, type ReadConstraint, policyFor } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import type { Repository } from '../store/repository.ts';
import { accessForTypes } from '../store/search/compile.ts';
import { Sql } from '../store/search/sql.ts';
import type { PayloadContent } from './channel.ts';
import type { NotificationEvent } from './notification.ts';
import { txQuery } from './registry.ts';
import { parseJson } from '../kernel/json.ts';

/**
 * Stored events (table subscription_event) turned into what a subscriber may see now. Delivery and
 * $events ask the same decision point as search (access/policy.ts `policyFor` of the subscriber's
 * stored AccessContext, composed into SQL by the repository): the focus is read through a
 * Repository holding that policy, and "not found" — whatever the reason: out of reach, a
 * restricting security label, deleted — means the event goes out with its number and time only.
 */
export interface EventRecord {
  event_number: number | string;
  occurred_at: string | Date;
  focus_type: string;
  focus_id: string;
  focus_version: number;
  change: 'create' | 'update' | 'delete';
}

export async function readEvents(repo: Repository, subscriptionId: string, from: number, until: number, limit: number): Promise<EventRecord[]> {
  return txQuery<EventRecord>(
    repo,
    `SELECT event_number, occurred_at, focus_type, focus_id, focus_version, change FROM subscription_event
     WHERE tenant = $1 AND subscription_id = $2 AND event_number >= $3 AND event_number <= $4
     ORDER BY event_number LIMIT $5`,
    [repo.ctx.tenant, subscriptionId, from, until, limit]
  );
}

/**
 * The next events of several subscriptions of one round in one statement: for each, numbers
 * `from`..`until`, at most `limit`, in order.
 */
export async function readEventsOf(
  db: Queryable,
  wanted: { tenant: string; id: string; from: number; until: number; limit: number }[]
): Promise<Map<string, EventRecord[]>> {
  const out = new Map<string, EventRecord[]>();
  if (wanted.length === 0) return out;
  const { rows } = await db.query<EventRecord & { tenant: string; subscription_id: string }>(
    `SELECT w.tenant, w.id AS subscription_id, e.event_number, e.occurred_at, e.focus_type, e.focus_id, e.focus_version, e.change
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::int[]) AS w(tenant, id, lo, hi, lim)
     CROSS JOIN LATERAL (
       SELECT event_number, occurred_at, focus_type, focus_id, focus_version, change FROM subscription_event
       WHERE tenant = w.tenant AND subscription_id = w.id AND event_number >= w.lo AND event_number <= w.hi
       ORDER BY event_number LIMIT w.lim) e
     ORDER BY w.tenant, w.id, e.event_number`,
    [wanted.map((w) => w.tenant), wanted.map((w) => w.id), wanted.map((w) => w.from), wanted.map((w) => w.until), wanted.map((w) => w.limit)]
  );
  for (const r of rows) {
    const key = `${r.tenant}/${r.subscription_id}`;
    const list = out.get(key);
    if (list) list.push(r);
    else out.set(key, [r]);
  }
  return out;
}

// A subscriber's policy is rebuilt from its stored context at most every few seconds, so a care
// relationship that ends, a label added, a role change or a disabled account stops deliveries
// within that time.
const POLICY_TTL_MS = 5_000;
const policies = new Map<string, { policy: Promise<AccessPolicy>; expires: number; ids: (string | undefined)[] }>();

/**
 * Drops the cached policies of subscribers whose grant or token id was just revoked (a user
 * disabled or re-roled: auth/users/account-admin.ts), so the next delivery judges them at once.
 * app.ts connects it to the revocation channel.
 */
export function forgetSubscriberPolicies(ids: string[]): void {
  const revoked = new Set(ids);
  for (const [k, v] of policies) if (v.ids.some((id) => id !== undefined && revoked.has(id))) policies.delete(k);
}

onConsentChange(forgetSubscriberPolicies);

export function queryableOf(repo: Repository): Queryable {
  return { query: async <R>(sql: string, params?: unknown[]) => { const rows = await repo.aggregate<R>(sql, params ?? []); return { rows, rowCount: rows.length }; } };
}

/** `now`: the delivery loop passes its clock (tests move it instead of waiting). */
export function subscriberPolicy(principal: AccessContext, db: Queryable, now = Date.now()): Promise<AccessPolicy> {
  const key = JSON.stringify(principal);
  const hit = policies.get(key);
  if (hit && hit.expires > now) return hit.policy;
  if (policies.size > 10_000) policies.clear();
  // The person's roles and status now, not as stored with the Subscription (access/person.ts).
  const policy = currentPrincipal(db, principal).then((p) => policyFor(p, db));
  // An external recipient's policy holds its patients' Consents: a Consent change drops it (access/disclosure.ts).
  const ids = [principal.grantId, principal.tokenId, isExternal(principal) ? consentChangeId(principal.tenant) : undefined];
  policies.set(key, { policy, expires: now + POLICY_TTL_MS, ids });
  policy.catch(() => policies.delete(key));
  return policy;
}

/** A repository that sees what `policy` sees, on `base`'s connection, with no write hooks. */
export function repositoryFor(base: Repository, policy: AccessPolicy): Repository {
  return base.withPolicy(policy);
}

/**
 * Which of these resources the viewer may see now, in one statement: the viewer's access
 * predicate (store/search/access.ts, as for search and read) on the current rows. A deleted record
 * has no current version for the predicate to look at: its delete is shown only to a viewer whose
 * access to the type is unconditional or conditional on security labels alone, judged on the last
 * version that existed; any other condition (compartment, care relationship, granular scope)
 * hides it — we do not re-implement the decision point here.
 */
export type Seen = Map<string, Resource | null>;

export async function seenBy(repo: Repository, keys: { type: string; id: string }[]): Promise<Seen> {
  const out = new Map<string, Resource | null>();
  const types = [...new Set(keys.map((k) => k.type))].filter((t) => repo.ctx.access.can(t, 'r'));
  if (types.length === 0) return out;
  const wanted = keys.filter((k) => types.includes(k.type));
  const external = isExternal(repo.ctx.access.context);
  const q = new Sql(repo.ctx.tenant);
  const access = accessForTypes(q, types, 'r', { access: repo.ctx.access, fhirBase: repo.ctx.fhirBase, permission: 'r' }, true);
  const rows = await txQuery<{ type: string; id: string; deleted: boolean; content: string; last: string | null }>(
    repo,
    `SELECT r.type, r.id, r.deleted, CASE WHEN r.deleted THEN '' ELSE r.content END AS content,
       CASE WHEN r.deleted THEN (SELECT h.content FROM resource_history h WHERE h.tenant = r.tenant AND h.type = r.type AND h.id = r.id AND NOT h.deleted
         ORDER BY h.version DESC LIMIT 1) END AS last
     FROM resource r
     WHERE r.tenant = $1 AND (r.type, r.id) IN (SELECT * FROM unnest(${q.p(wanted.map((k) => k.type), 'text[]')}, ${q.p(wanted.map((k) => k.id), 'text[]')}))
       AND (r.deleted OR ${access === 'FALSE' ? 'FALSE' : access})`,
    q.params
  );
  for (const r of rows) {
    const key = `${r.type}/${r.id}`;
    // A Part 2 record sent outside the treating clinic carries the §2.32 notice (access/notice.ts).
    if (!r.deleted) out.set(key, external ? discloseAll(parseJson(r.content) as Resource) : (parseJson(r.content) as Resource));
    else if (r.last && labelsOnly(repo.ctx.access.readConstraint(r.type, 'r'), JSON.parse(r.last) as Resource)) out.set(key, null);
  }
  return out;
}

/**
 * The events as `viewers` (every one of them must see a focus for it to be shown) may see them at
 * `content` level. full-resource carries the resource as it is now — the version the access
 * decision looked at — not the version of the event. One statement per viewer.
 */
export async function visibleEvents(viewers: Repository[], records: EventRecord[], content: PayloadContent): Promise<NotificationEvent[]> {
  if (content === 'empty' || records.length === 0) return eventsAsSeen(records, [], content);
  const keys = records.map((r) => ({ type: r.focus_type, id: r.focus_id }));
  return eventsAsSeen(records, await Promise.all(viewers.map((v) => seenBy(v, keys))), content);
}

/** The events as `seen` (what each viewer may see, from `seenBy`) lets them be shown at `content` level. */
export function eventsAsSeen(records: EventRecord[], seen: Seen[], content: PayloadContent): NotificationEvent[] {
  const base = records.map((r) => ({ number: Number(r.event_number), timestamp: new Date(r.occurred_at).toISOString() }) as NotificationEvent);
  if (content === 'empty' || records.length === 0) return base;
  return records.map((r, i) => {
    const key = `${r.focus_type}/${r.focus_id}`;
    if (!seen.every((m) => m.has(key))) return base[i];
    const resource = seen[0].get(key) ?? undefined;
    return { ...base[i], focus: { type: r.focus_type, id: r.focus_id, change: r.change, resource: content === 'full-resource' ? resource : undefined } };
  });
}

function labelsOnly(c: ReadConstraint, resource: Resource): boolean {
  switch (c.kind) {
    case 'all':
      return true;
    case 'unlabelled':
      return !(resource.meta?.security ?? []).some((s) => c.labels.some((l) => l.system === s.system && l.code === s.code));
    case 'and':
      return c.all.every((x) => labelsOnly(x, resource));
    case 'or':
      return c.any.some((x) => labelsOnly(x, resource));
    default:
      return false;
  }
}
