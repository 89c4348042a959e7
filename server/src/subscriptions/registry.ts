import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/context.ts';
import type { Queryable } from '../db/database.ts';
import type { Repository } from '../store/repository.ts';
import type { SubscriptionRow } from './channel.ts';
import { matches, prepareForMatching } from './match.ts';
import { type ParsedCriteria, type SubscriptionSpec, criteriaOf } from './subscription.ts';
import type { Change, Topic } from './topics.ts';

/**
 * The `subscription` table (migration 008) and the in-memory matcher per tenant.
 *
 * Matching runs on every write, so it must cost nothing when nothing matches: per tenant the
 * active subscriptions are indexed by resource type and, when a filter pins a patient, by patient
 * id; a write looks at only the subscriptions of its type that either pin its patient or pin none.
 * The index is loaded once per tenant and dropped when a Subscription of that tenant changes: in
 * this process after the commit, in other processes through NOTIFY bh_subscription_change (see
 * ./index.ts), with a reload every minute as a backstop.
 */
export const CHANGE_CHANNEL = 'bh_subscription_change';
export const EVENT_CHANNEL = 'bh_subscription_event';
/** Payload of our own NOTIFYs: the process that committed already woke its loop and ignores them. */
export const PROCESS_TAG = randomUUID();
/** Appended to the payload when a websocket subscription has new events (./index.ts wakes at once for those). */
export const WEBSOCKET_MARK = ' websocket';

/**
 * How old a tenant's matcher may get before it is reloaded. Infinite while nothing else can change
 * Subscriptions behind our back (PGlite: one process; PostgreSQL: while LISTEN is connected);
 * a few seconds while another process's changes could go unheard (./index.ts sets it).
 */
let reloadMs = Number.POSITIVE_INFINITY;
export function setMatcherMaxAge(ms: number): void {
  reloadMs = ms;
}

/** SQL on the write's own connection and transaction, without flushing its buffered creates. */
export function txQuery<R>(repo: Repository, sql: string, params: unknown[]): Promise<R[]> {
  // aggregateOver([]) is the repository's statement on its transaction that leaves buffered
  // resource creates alone; our tables are not resources, so there is nothing to flush for them.
  return repo.aggregateOver<R>([], sql, params);
}

// --- rows ---------------------------------------------------------------------------------------

export interface RowRecord {
  tenant: string;
  id: string;
  version: number;
  status: SubscriptionRow['status'];
  topic: string | null;
  criteria: string | null;
  filters: string[] | string;
  channel_type: SubscriptionRow['channelType'];
  endpoint: string | null;
  headers: string[] | string;
  payload: SubscriptionRow['payload'];
  content_type: string | null;
  heartbeat_seconds: number | null;
  timeout_seconds: number;
  max_count: number;
  principal: AccessContext | string;
  events_since_start: number | string;
  delivered_through: number | string;
  attempts: number;
  next_due: string | Date | null;
  last_sent_at: string | Date | null;
  error: string | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** A table row as the delivery side and the channels see it (channel.ts SubscriptionRow). */
export function toSubscriptionRow(r: RowRecord): SubscriptionRow & { version: number; deliveredThrough: number; attempts: number; lastSentAt?: Date; error?: string } {
  return {
    tenant: r.tenant,
    id: r.id,
    version: r.version,
    status: r.status,
    topic: r.topic ?? undefined,
    criteria: r.criteria ?? undefined,
    channelType: r.channel_type,
    endpoint: r.endpoint ?? undefined,
    headers: json<string[]>(r.headers),
    payload: r.payload,
    contentType: r.content_type ?? undefined,
    heartbeatSeconds: r.heartbeat_seconds ?? undefined,
    timeoutSeconds: r.timeout_seconds,
    maxCount: r.max_count,
    eventsSinceStart: Number(r.events_since_start),
    principal: json<AccessContext>(r.principal),
    deliveredThrough: Number(r.delivered_through),
    attempts: r.attempts,
    lastSentAt: r.last_sent_at ? new Date(r.last_sent_at) : undefined,
    error: r.error ?? undefined,
  };
}
export type DeliveryRow = ReturnType<typeof toSubscriptionRow>;

/** Reads one subscription's row (e.g. for $status, or the websocket channel binding a socket). */
export async function readSubscriptionRow(db: Queryable, tenant: string, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await db.query<RowRecord>('SELECT * FROM subscription WHERE tenant = $1 AND id = $2', [tenant, id]);
  return rows[0] ? toSubscriptionRow(rows[0]) : undefined;
}

/**
 * Mirrors a Subscription version into the table, in the write's transaction. A subscription that
 * (re)enters requested or active is due at once (handshake, or the backlog since delivered-through);
 * attempts and error start over.
 */
export async function upsertRow(repo: Repository, id: string, version: number, spec: SubscriptionSpec, principal: AccessContext, now: Date): Promise<void> {
  const due = spec.status === 'requested' || spec.status === 'active' ? now.toISOString() : null;
  await txQuery(
    repo,
    `INSERT INTO subscription (tenant, id, version, status, topic, criteria, filters, channel_type, endpoint, headers, payload,
       content_type, heartbeat_seconds, timeout_seconds, max_count, principal, next_due)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16::jsonb, $17::timestamptz)
     ON CONFLICT (tenant, id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, topic = EXCLUDED.topic,
       criteria = EXCLUDED.criteria, filters = EXCLUDED.filters, channel_type = EXCLUDED.channel_type, endpoint = EXCLUDED.endpoint,
       headers = EXCLUDED.headers, payload = EXCLUDED.payload, content_type = EXCLUDED.content_type,
       heartbeat_seconds = EXCLUDED.heartbeat_seconds, timeout_seconds = EXCLUDED.timeout_seconds, max_count = EXCLUDED.max_count,
       principal = EXCLUDED.principal, next_due = EXCLUDED.next_due, attempts = 0, error = NULL`,
    [
      repo.ctx.tenant,
      id,
      version,
      spec.status,
      spec.topic ?? null,
      spec.criteria ?? null,
      JSON.stringify(spec.filters),
      spec.channelType,
      spec.endpoint ?? null,
      JSON.stringify(spec.headers),
      spec.payload,
      spec.contentType ?? null,
      spec.heartbeatSeconds ?? null,
      spec.timeoutSeconds,
      spec.maxCount,
      JSON.stringify(principal),
      due,
    ]
  );
}

export async function deleteRow(repo: Repository, id: string): Promise<void> {
  await txQuery(
    repo,
    `WITH e AS (DELETE FROM subscription_event WHERE tenant = $1 AND subscription_id = $2)
     DELETE FROM subscription WHERE tenant = $1 AND id = $2`,
    [repo.ctx.tenant, id]
  );
}

// --- matcher ------------------------------------------------------------------------------------

interface Entry {
  id: string;
  topic?: Topic;
  parsed: ParsedCriteria[];
  /** Delivered over a websocket, which only the process holding the socket can do. */
  websocket: boolean;
}

interface TypeIndex {
  /** Subscriptions of this type that pin no patient. */
  any: Entry[];
  /** Subscriptions that pin a patient, by patient id. */
  byPatient: Map<string, Entry[]>;
}

class TenantIndex {
  readonly byType = new Map<string, TypeIndex>();
  readonly loadedAt: number;
  constructor(loadedAt: number) {
    this.loadedAt = loadedAt;
  }

  add(entry: Entry, resourceType: string): void {
    let t = this.byType.get(resourceType);
    if (!t) this.byType.set(resourceType, (t = { any: [], byPatient: new Map() }));
    // Every filter must hold, so any one pinned patient is enough to index by.
    const pinned = entry.parsed.find((p) => p.patients.length === 1)?.patients[0];
    if (pinned) {
      const list = t.byPatient.get(pinned) ?? [];
      list.push(entry);
      t.byPatient.set(pinned, list);
    } else {
      t.any.push(entry);
    }
  }
}

/**
 * Per tenant: the matcher, or its load in flight. A background load (`warm`) is never awaited by a
 * write: its query may wait for that very write's transaction (PGlite has one connection; on
 * PostgreSQL the pool may be held by writers), so a write that finds one still running loads in
 * its own transaction instead.
 */
interface Cached {
  p: Promise<TenantIndex>;
  idx?: TenantIndex;
  background: boolean;
}
const cache = new Map<string, Cached>();
const generation = new Map<string, number>();

/**
 * The database a dropped matcher is reloaded from at once, outside any write (set by
 * startSubscriptions), so the next write does not wait for it. Without it the next write loads.
 */
let warmer: Queryable | undefined;
let warmTimer: NodeJS.Timeout | undefined;
const toWarm = new Set<string>();
export function warmMatchersWith(db: Queryable | undefined): void {
  warmer = db;
}

function warm(): void {
  warmTimer = undefined;
  const db = warmer;
  if (!db) return;
  for (const tenant of [...toWarm]) {
    toWarm.delete(tenant);
    if (cache.has(tenant)) continue;
    install(tenant, load((sql, params) => db.query<MatcherRow>(sql, params).then((r) => r.rows), tenant), true);
  }
}

/** Drops a tenant's matcher (this process); it is reloaded in the background (or by the next write). */
export function invalidate(tenant: string): void {
  generation.set(tenant, (generation.get(tenant) ?? 0) + 1);
  cache.delete(tenant);
  if (warmer) {
    toWarm.add(tenant);
    // Many changes in a row (a bundle of Subscriptions) reload once.
    warmTimer ??= setTimeout(warm, 50);
    warmTimer.unref();
  }
}

export function invalidateAll(): void {
  for (const t of [...cache.keys()]) invalidate(t);
}

interface MatcherRow {
  id: string;
  topic: string | null;
  criteria: string | null;
  filters: string[] | string;
  channel_type: string;
}

type Criteria = ReturnType<typeof criteriaOf> | undefined;
/** Parsed criteria of the last load per tenant, reused when a subscription's criteria did not change. */
const parsedByTenant = new Map<string, Map<string, { key: string; c: Criteria }>>();

async function load(query: (sql: string, params: unknown[]) => Promise<MatcherRow[]>, tenant: string): Promise<TenantIndex> {
  const rows = await query(`SELECT id, topic, criteria, filters, channel_type FROM subscription WHERE tenant = $1 AND status <> 'off'`, [tenant]);
  const index = new TenantIndex(Date.now());
  const previous = parsedByTenant.get(tenant);
  const parsed = new Map<string, { key: string; c: Criteria }>();
  for (const r of rows) {
    const filters = json<string[]>(r.filters);
    const key = `${r.topic ?? ''}\n${r.criteria ?? ''}\n${filters.join('\n')}`;
    let hit = previous?.get(r.id);
    if (hit?.key !== key) {
      let c: Criteria;
      try {
        c = criteriaOf({ topic: r.topic ?? undefined, criteria: r.criteria ?? undefined, filters });
      } catch {
        c = undefined; // a stored subscription that no longer parses (a topic withdrawn) matches nothing
      }
      hit = { key, c };
    }
    parsed.set(r.id, hit);
    if (hit.c) {
      for (const p of hit.c.parsed) prepareForMatching(p.request);
      index.add({ id: r.id, topic: hit.c.topic, parsed: hit.c.parsed, websocket: r.channel_type === 'websocket' }, hit.c.resourceType);
    }
  }
  parsedByTenant.set(tenant, parsed);
  return index;
}

/** Installs a load as the tenant's matcher; dropped again if the tenant changed while it ran. */
function install(tenant: string, p: Promise<TenantIndex>, background: boolean): Promise<TenantIndex> {
  const gen = generation.get(tenant) ?? 0;
  const entry: Cached = { p, background };
  cache.set(tenant, entry);
  p.then(
    (idx) => {
      entry.idx = idx;
      if ((generation.get(tenant) ?? 0) !== gen && cache.get(tenant) === entry) cache.delete(tenant);
    },
    () => {
      if (cache.get(tenant) === entry) cache.delete(tenant);
    }
  );
  return p;
}

async function indexFor(repo: Repository): Promise<TenantIndex> {
  const tenant = repo.ctx.tenant;
  const fromTx = (sql: string, params: unknown[]) => txQuery<MatcherRow>(repo, sql, params);
  const entry = cache.get(tenant);
  if (entry) {
    // Another write's load runs in that write's transaction on its own connection: wait for it
    // (if it fails, load in ours rather than fail an unrelated write). Never wait for a background one.
    const idx = entry.idx ?? (entry.background ? undefined : await entry.p.catch(() => undefined));
    if (idx && Date.now() - idx.loadedAt < reloadMs) return idx;
    if (!idx && entry.background && cache.get(tenant) === entry) return load(fromTx, tenant);
    if (cache.get(tenant) === entry) cache.delete(tenant);
  }
  return install(tenant, load(fromTx, tenant), false);
}

/**
 * Every patient the resource references anywhere (or is): a superset of what its `patient` and
 * `subject` search parameters can match, found by a walk of the JSON (no FHIRPath per write), so
 * no subscription pinned to one of them is skipped; the exact match is ./match.ts's.
 */
function patientIdsOf(resource: Resource): string[] {
  const out = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string') {
          const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/.exec(x);
          if (m) out.add(m[1]);
        } else if (typeof x === 'object') {
          walk(x);
        }
      }
    }
  };
  walk(resource);
  return [...out];
}

export interface Matches {
  /** Ids of the tenant's subscriptions that the change is an event of. */
  ids: string[];
  /** Whether one of them is a websocket subscription (another process may hold its socket). */
  websocket: boolean;
}

/** The tenant's subscriptions that this change is an event of. */
export async function matchingSubscriptions(repo: Repository, resourceType: string, change: Change, before: Resource | undefined, after: Resource | undefined): Promise<Matches> {
  const none: Matches = { ids: [], websocket: false };
  const index = await indexFor(repo);
  const t = index.byType.get(resourceType);
  if (!t) return none;
  const subject = after ?? before;
  if (!subject) return none;
  let candidates = t.any;
  if (t.byPatient.size > 0) {
    const pinned = patientIdsOf(subject).flatMap((p) => t.byPatient.get(p) ?? []);
    if (pinned.length) candidates = [...candidates, ...pinned];
  }
  const out: Matches = { ids: [], websocket: false };
  for (const e of candidates) {
    if (e.topic) {
      if (!e.topic.trigger(change, before, after)) continue;
    } else if (change === 'delete') {
      continue; // R4 criteria subscriptions are about resources that exist
    }
    if (e.parsed.every((p) => matches(subject, p.request))) {
      out.ids.push(e.id);
      if (e.websocket) out.websocket = true;
    }
  }
  return out;
}
