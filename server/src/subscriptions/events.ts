import { OperationOutcomeError, type WithId } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/context.ts';
import { type AccessPolicy, type ReadConstraint, policyFor } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import type { Repository } from '../store/repository.ts';
import type { PayloadContent } from './channel.ts';
import type { NotificationEvent } from './notification.ts';
import { txQuery } from './registry.ts';

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

// A subscriber's policy is rebuilt from its stored context at most every few seconds, so a care
// relationship that ends (or a label added) stops deliveries within that time.
const POLICY_TTL_MS = 5_000;
const policies = new Map<string, { policy: Promise<AccessPolicy>; expires: number }>();

export function queryableOf(repo: Repository): Queryable {
  return { query: async <R>(sql: string, params?: unknown[]) => { const rows = await repo.aggregate<R>(sql, params ?? []); return { rows, rowCount: rows.length }; } };
}

/** `now`: the delivery loop passes its clock (tests move it instead of waiting). */
export function subscriberPolicy(principal: AccessContext, db: Queryable, now = Date.now()): Promise<AccessPolicy> {
  const key = JSON.stringify(principal);
  const hit = policies.get(key);
  if (hit && hit.expires > now) return hit.policy;
  if (policies.size > 10_000) policies.clear();
  const policy = policyFor(principal, db);
  policies.set(key, { policy, expires: now + POLICY_TTL_MS });
  policy.catch(() => policies.delete(key));
  return policy;
}

/** A repository that sees what `policy` sees, on `base`'s connection, with no write hooks. */
export function repositoryFor(base: Repository, policy: AccessPolicy): Repository {
  return base.derive({ ...base.ctx, tenant: policy.tenant, access: policy, hooks: [] });
}

async function visible(repo: Repository, type: string, id: string): Promise<WithId<Resource> | undefined> {
  try {
    return await repo.readResource(type, id);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return undefined; // 404, 410, 403: not for this subscriber
    throw err;
  }
}

/**
 * The events as `viewers` (every one of them must see a focus for it to be shown) may see them at
 * `content` level. full-resource carries the resource as it is now — the version the access
 * decision looked at — not the version of the event.
 */
export async function visibleEvents(viewers: Repository[], records: EventRecord[], content: PayloadContent): Promise<NotificationEvent[]> {
  const out: NotificationEvent[] = [];
  for (const r of records) {
    const e: NotificationEvent = { number: Number(r.event_number), timestamp: new Date(r.occurred_at).toISOString() };
    if (content !== 'empty') {
      let resource: Resource | undefined;
      let shown = true;
      for (const v of viewers) {
        const seen = r.change === 'delete' ? undefined : await visible(v, r.focus_type, r.focus_id);
        if (seen === undefined && !(await deletedButVisible(v, r.focus_type, r.focus_id))) {
          shown = false;
          break;
        }
        resource ??= seen;
      }
      if (shown) e.focus = { type: r.focus_type, id: r.focus_id, change: r.change, resource: content === 'full-resource' ? resource : undefined };
    }
    out.push(e);
  }
  return out;
}

/**
 * A deleted record has no current version for the SQL access predicate to look at. Its delete is
 * shown only to a viewer whose access to the type is unconditional or conditional on security
 * labels alone, judged on the last version that existed; any other condition (compartment, care
 * relationship, granular scope) hides it — we do not re-implement the decision point here.
 */
async function deletedButVisible(repo: Repository, type: string, id: string): Promise<boolean> {
  const rows = await txQuery<{ deleted: boolean; content: string | null }>(
    repo,
    `SELECT r.deleted, (SELECT h.content FROM resource_history h WHERE h.tenant = r.tenant AND h.type = r.type AND h.id = r.id AND NOT h.deleted
       ORDER BY h.version DESC LIMIT 1) AS content
     FROM resource r WHERE r.tenant = $1 AND r.type = $2 AND r.id = $3`,
    [repo.ctx.tenant, type, id]
  );
  if (!rows[0]?.deleted || !rows[0].content) return false;
  const last = JSON.parse(rows[0].content) as Resource;
  return labelsOnly(repo.ctx.access.readConstraint(type, 'r'), last);
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
