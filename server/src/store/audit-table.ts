import { createHash } from 'node:crypto';
import type { Statement } from '../db/database.ts';
import type { IndexRows } from './index-rows.ts';

/**
 * Where AuditEvents live: their own append-only table `audit_event` (db/migrations/023-audit-table.sql),
 * not `resource` + `resource_history` + the idx_* tables. An AuditEvent is written once, never
 * changed, read rarely and searched by a handful of parameters, so it is one row: the JSON, the
 * `date` (recorded) as its [low, high) range, and every other searchable value as one `keys`
 * array under a GIN index. One row and three index entries (primary key, date, GIN pending list)
 * instead of a resource row and ~10 index rows in four tables with two or three B-trees each.
 *
 * The table also has the columns the generic SQL reads off a `resource` row (`type` always
 * 'AuditEvent', `version` 1, `deleted` false, `last_updated`, `content`), so a read, a vread, a
 * history page, a chain's inner set and a search page run the same statements over it with the
 * table name swapped (`tableOf`). Filters and access predicates on it are compiled over `keys`
 * (search/audit.ts).
 */
export const AUDIT_TYPE = 'AuditEvent';
export const AUDIT_TABLE = 'audit_event';

/** The table holding the current rows of `type`. */
export function tableOf(type: string): string {
  return type === AUDIT_TYPE ? AUDIT_TABLE : 'resource';
}

/**
 * The search parameters an AuditEvent is indexed for: what the review of the log searches by
 * (R4 AuditEvent search parameters, https://hl7.org/fhir/R4/auditevent.html#search). A search by
 * any other AuditEvent parameter is a 400 (search/audit.ts), never a silently empty answer.
 */
export const AUDIT_TOKEN_PARAMS = ['type', 'subtype', 'outcome', 'agent:identifier', 'entity:identifier'] as const;
export const AUDIT_REFERENCE_PARAMS = ['agent', 'entity', 'patient'] as const;

/*
 * Keys: `param ␟ value`, with ␟ = U+001F (FHIR strings cannot hold characters below U+0020 other
 * than tab, CR and LF, so no value contains it).
 *  - token, system and code:       type␟<system>␟<code>  (system '' when the coding has none)
 *  - token, any system:            type␟␞␟<code>          (␞ = U+001E), for `type=code`
 *  - reference:                    agent␟Practitioner/123, or agent␟<absolute URL>
 * A key longer than LONG_KEY bytes keeps its parameter and hashes the rest (a GIN entry must fit
 * in a third of a page): `param␟␝<md5 hex>` (␝ = U+001D). Searches compute keys the same way, so
 * equality still matches; only a `system|` (any code) search misses a long code's key.
 */
export const SEP = '\u001f';
export const ANY_SYSTEM = '\u001e';
const HASHED = '\u001d';
const LONG_KEY = 512;

function key(param: string, value: string): string {
  const k = `${param}${SEP}${value}`;
  if (Buffer.byteLength(k) <= LONG_KEY) return k;
  return `${param}${SEP}${HASHED}${createHash('md5').update(value).digest('hex')}`;
}

/** The key of a token with this system (null: none) and code. */
export function tokenKey(param: string, system: string | null, code: string): string {
  return key(param, `${system ?? ''}${SEP}${code}`);
}

/** The key of a token's code whatever its system (`param=code`). */
export function anySystemKey(param: string, code: string): string {
  return key(param, `${ANY_SYSTEM}${SEP}${code}`);
}

/** The key of a reference: `Type/id` for a local one, the URL as written otherwise. */
export function referenceKey(param: string, target: string): string {
  return key(param, target);
}

/** One AuditEvent as stored. */
export interface AuditRow {
  id: string;
  /** AuditEvent.recorded as the instant range its precision denotes (the `date` parameter). */
  recorded: string;
  recordedHigh: string;
  lastUpdated: string;
  keys: string[];
  content: string;
}

/**
 * The INSERT of a batch of AuditEvents: one statement of fixed text (prepared once per
 * connection), arrays in, unnest out. The keys of one event travel as one string joined by
 * U+001C, since unnest cannot carry an array per row.
 */
export function auditInsert(tenant: string, rows: AuditRow[]): Statement {
  return {
    sql: `INSERT INTO audit_event (tenant, id, recorded, recorded_high, last_updated, keys, content)
      SELECT $1, x.id, x.recorded, x.high, x.lu, string_to_array(x.keys, chr(28)), x.content
      FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[]) AS x(id, recorded, high, lu, keys, content)`,
    params: [
      tenant,
      rows.map((r) => r.id),
      rows.map((r) => r.recorded),
      rows.map((r) => r.recordedHigh),
      rows.map((r) => r.lastUpdated),
      rows.map((r) => r.keys.join('\u001c')),
      rows.map((r) => r.content),
    ],
    prepare: true,
  };
}

/** The keys of an AuditEvent's index rows (audit/audit-index.ts builds them; dates go to `recorded`). */
export function auditKeys(index: IndexRows): string[] {
  const keys = new Set<string>();
  for (const t of index.token) {
    if (t.code == null) continue;
    keys.add(tokenKey(t.param, t.system ?? null, t.code));
    keys.add(anySystemKey(t.param, t.code));
  }
  for (const r of index.reference) {
    const target = r.targetId != null ? `${r.targetType}/${r.targetId}` : r.url;
    if (target) keys.add(referenceKey(r.param, target));
  }
  return [...keys];
}
