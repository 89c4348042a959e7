import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import { loadDefinitions, resourceTypes } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';
import { dateRange } from './date-range.ts';
import { AUDIT_TABLE, AUDIT_TYPE } from './audit-table.ts';
import { accessForTypes, accessPredicate } from './search/compile.ts';
import type { FilterEnv } from './search/compiled.ts';
import { Sql } from './search/sql.ts';
import { parseJson } from '../kernel/json.ts';

/**
 * _history at instance, type and system level (https://hl7.org/fhir/R4/http.html#history).
 * Newest first. Pages are keyset cursors on (last_updated, type, id, version), so a page link
 * keeps pointing at the same place while new versions arrive.
 */
export interface HistoryQuery {
  type?: string;
  id?: string;
  /** _since: only versions updated at or after this instant. */
  since?: string;
  /** _at: versions current at this instant are not modelled; treated as an upper bound. */
  before?: string;
  count?: number;
  offset?: number;
  cursor?: string;
  /** Types the caller may read (system-level history); undefined = all. */
  types?: string[];
}

interface HistoryRow {
  type: string;
  id: string;
  version: number;
  lu: string;
  deleted: boolean;
  method: string;
  content: string;
}

export interface HistoryPage {
  rows: HistoryRow[];
  query: HistoryQuery;
  next?: string;
}

export async function readHistoryRows(
  db: Queryable,
  ctx: { tenant: string; defaultCount: number; maxCount: number; access: AccessPolicy; fhirBase: string },
  query: HistoryQuery
): Promise<HistoryPage> {
  loadDefinitions();
  const q = new Sql(ctx.tenant);
  const where = ['h.tenant = $1'];
  if (query.type) where.push(`h.type = ${q.p(query.type)}`);
  if (query.id) where.push(`h.id = ${q.p(query.id)}`);
  if (query.types) where.push(`h.type = ANY(${q.p(query.types, 'text[]')})`);
  // System-level history holds no AuditEvents: they live in their own table (./audit-table.ts),
  // and the audit trail is reviewed as AuditEvent (search, AuditEvent/_history), not mixed with
  // the record (each history read would add to it).
  // The caller's access, in the SQL (../access/policy.ts): a version is visible when its
  // resource is — decided on the resource's current index rows (labels, compartment), so older
  // versions follow the resource's current visibility, and a deleted resource (no index rows) is
  // visible only under an unconstrained (`all`) decision.
  const env: FilterEnv = { access: ctx.access, fhirBase: ctx.fhirBase, permission: 'r' };
  const access = query.type ? accessPredicate(q, query.type, 'h', env) : accessForTypes(q, resourceTypes(), 'h', env, true);
  if (access === 'FALSE') return { rows: [], query };
  if (access !== 'TRUE') where.push(`(${access})`);
  if (query.since) {
    const r = dateRange(query.since);
    if (!r) fail('invalid', `Invalid _since '${query.since}': expected an instant`, '_since');
    where.push(`h.last_updated >= ${q.p(r.low)}::timestamptz`);
  }
  if (query.before) {
    const r = dateRange(query.before);
    if (!r) fail('invalid', `Invalid _at '${query.before}'`, '_at');
    where.push(`h.last_updated < ${q.p(r.high)}::timestamptz`);
  }
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    where.push(`(h.last_updated, h.type, h.id, h.version) < (${q.p(c[0])}::timestamptz, ${q.p(c[1])}, ${q.p(c[2])}, ${q.p(c[3])}::int)`);
  }
  const count = Math.min(Math.max(query.count ?? ctx.defaultCount, 0), ctx.maxCount);
  const offset = query.offset && query.offset > 0 ? query.offset : 0;
  // An AuditEvent's one version is its row in its own table (./audit-table.ts).
  const from = query.type === AUDIT_TYPE ? `'POST' AS method, h.content FROM ${AUDIT_TABLE} h` : `h.method, h.content FROM resource_history h`;
  const { rows } = await db.query<HistoryRow>(
    `SELECT h.type, h.id, h.version, to_char(h.last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS lu, h.deleted, ${from} WHERE ${where.join(' AND ')}
     ORDER BY h.last_updated DESC, h.type DESC, h.id DESC, h.version DESC
     LIMIT ${q.p(count + 1)} OFFSET ${q.p(offset)}`,
    q.params
  );
  const page: HistoryPage = { rows: rows.slice(0, count), query };
  if (rows.length > count && count > 0) {
    const last = rows[count - 1];
    page.next = encodeCursor([last.lu, last.type, last.id, last.version]);
  }
  return page;
}

export function historyBundle(ctx: { fhirBase: string }, page: HistoryPage, selfUrl?: string): Bundle {
  const entry: BundleEntry[] = page.rows.map((r) => {
    const fullUrl = `${ctx.fhirBase}/${r.type}/${r.id}`;
    const e: BundleEntry = {
      fullUrl,
      request: { method: r.method as 'POST', url: r.method === 'POST' ? r.type : `${r.type}/${r.id}` },
      response: {
        status: r.deleted ? '204' : r.version === 1 ? '201' : '200',
        etag: `W/"${r.version}"`,
        lastModified: r.lu,
      },
    };
    if (!r.deleted) e.resource = parseJson(r.content) as Resource;
    return e;
  });
  const bundle: Bundle = { resourceType: 'Bundle', type: 'history', entry };
  if (selfUrl) {
    bundle.link = [{ relation: 'self', url: selfUrl }];
    if (page.next) {
      const u = new URL(selfUrl);
      u.searchParams.set('_cursor', page.next);
      u.searchParams.delete('_offset');
      bundle.link.push({ relation: 'next', url: u.toString() });
    }
  }
  return bundle;
}

function encodeCursor(v: unknown[]): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function decodeCursor(c: string): [string, string, string, number] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 4 && typeof v[0] === 'string' && typeof v[3] === 'number') {
      return v as [string, string, string, number];
    }
  } catch {
    // fall through
  }
  return fail('invalid', 'Invalid _cursor: use the links the server returned', '_cursor');
}
