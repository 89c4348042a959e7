import type { Resource } from '@medplum/fhirtypes';
import { type Queryable, type Statement, runBatch } from '../db/database.ts';
import { noteWrites } from '../db/statistics.ts';
import { fail } from '../kernel/outcome.ts';
import { AUDIT_TYPE } from './audit-table.ts';
import { keyColumns } from './index-key.ts';
import { type IndexRows, INDEX_TABLES } from './index-rows.ts';

/**
 * The write path's SQL: a batch of resource versions (current row, history row, index rows) in
 * one statement, so a transaction bundle of 300 creates costs a handful of round trips instead of
 * a thousand. Arrays go in as parameters and come out through unnest(): no values in SQL text.
 */
export interface VersionWrite {
  type: string;
  id: string;
  version: number;
  lastUpdated: string;
  deleted: boolean;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  content: string;
  /** Index rows of the new version (empty for a delete). */
  index: IndexRows;
  /** True when a row already exists in `resource` (update, delete, re-create after delete). */
  exists: boolean;
  /** The stored resource itself, for the caller to return (not written; `content` is). */
  resource?: Resource;
  /** The version this write replaces, for write hooks (not written). */
  before?: Resource;
}

const COLUMNS: Record<(typeof INDEX_TABLES)[number], { cols: string[]; types: string[]; pick: (r: any) => unknown[] }> = {
  token: {
    cols: ['system', 'system_full', 'code', 'code_full', 'text'],
    types: ['text', 'text', 'text', 'text', 'text'],
    pick: (r) => [...keyColumns(r.system), ...keyColumns(r.code), r.text],
  },
  string: { cols: ['norm', 'norm_full', 'exact'], types: ['text', 'text', 'text'], pick: (r) => [...keyColumns(r.norm), r.exact] },
  date: { cols: ['low', 'high'], types: ['timestamptz', 'timestamptz'], pick: (r) => [r.low, r.high] },
  number: { cols: ['low', 'high'], types: ['numeric', 'numeric'], pick: (r) => [r.low, r.high] },
  quantity: {
    cols: ['low', 'high', 'system', 'code', 'unit', 'canon_code', 'canon_low', 'canon_high'],
    types: ['numeric', 'numeric', 'text', 'text', 'text', 'text', 'numeric', 'numeric'],
    pick: (r) => [r.low, r.high, r.system, r.code, r.unit, r.canonCode, r.canonLow, r.canonHigh],
  },
  reference: {
    cols: ['target_type', 'target_id', 'url', 'url_full'],
    types: ['text', 'text', 'text', 'text'],
    pick: (r) => [r.targetType, r.targetId, ...keyColumns(r.url)],
  },
  uri: { cols: ['value', 'value_full'], types: ['text', 'text'], pick: (r) => keyColumns(r.value) },
};

/**
 * Writes the versions. With `expectVersion` (a single write of an existing resource) the write is
 * conditional: it happens only if the stored version is still `expectVersion`, checked atomically
 * by the UPDATE's row lock, so an update needs no explicit transaction or SELECT ... FOR UPDATE.
 * Returns false when the guard failed and nothing was written. `last`: the transaction's final
 * statement (QueryOptions.last).
 */
export async function writeVersions(
  db: Queryable,
  tenant: string,
  writes: VersionWrite[],
  expectVersion?: number,
  options: { last?: boolean; alongside?: Statement[] } = {}
): Promise<boolean> {
  const alongside = options.alongside ?? [];
  // AuditEvents have their own append-only table, written by the audit trail alone (./audit-table.ts).
  if (writes.some((w) => w.type === AUDIT_TYPE)) fail('method-not-allowed', 'AuditEvents are recorded by the server and never written as resources');
  if (writes.length === 0) {
    await runBatch(db, alongside, { last: options.last });
    return true;
  }
  const guarded = expectVersion !== undefined;
  if (guarded && (writes.length !== 1 || !writes[0].exists)) throw new Error('a guarded write is one existing resource');
  const params: unknown[] = [tenant];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const ctes: string[] = [];

  const fresh = writes.filter((w) => !w.exists);
  const existing = writes.filter((w) => w.exists);
  // One set of column arrays for the whole batch serves the resource rows (inserted and updated)
  // and the history rows, each part taking its own rows by a flag: every content is sent, escaped
  // and parsed once, however the batch mixes creates and updates.
  const c = {
    type: p(writes.map((w) => w.type)),
    id: p(writes.map((w) => w.id)),
    version: p(writes.map((w) => w.version)),
    lu: p(writes.map((w) => w.lastUpdated)),
    deleted: p(writes.map((w) => w.deleted)),
    content: contentArray(writes, p),
  };
  // The versions as rows, once (a CTE read by several parts is computed once): each content is
  // sent, and each unnested, once.
  const flags = (f: (w: VersionWrite) => boolean) => (writes.every(f) ? 'TRUE' : writes.some(f) ? `${p(writes.map(f))}::bool[]` : 'FALSE');
  const ex = flags((w) => w.exists);
  const perRow = (flag: string, name: string) => (flag.endsWith('[]') ? { arg: `, ${flag}`, col: `, ${name}` } : { arg: '', col: '' });
  const exCol = perRow(ex, 'ex');
  ctes.push(`w AS (SELECT * FROM unnest(${c.type}::text[], ${c.id}::text[], ${c.version}::int[], ${c.lu}::timestamptz[], ${c.deleted}::bool[], ${c.content}::text[], ${p(writes.map((w) => w.method))}::text[]${exCol.arg})
      AS w(type, id, version, lu, deleted, content, method${exCol.col}))`);
  const exTest = exCol.arg ? 'w.ex' : ex;
  if (fresh.length) {
    ctes.push(`ins_r AS (INSERT INTO resource (tenant, type, id, version, last_updated, deleted, content)
      SELECT $1, w.type, w.id, w.version, w.lu, w.deleted, w.content FROM w${fresh.length === writes.length ? '' : ` WHERE NOT ${exTest}`})`);
  }
  // Every other part of a guarded write runs only if the guarded UPDATE took the row.
  const onlyIf = guarded ? ' AND EXISTS (SELECT 1 FROM upd_r)' : '';
  let replacedMatch: string | undefined;
  if (existing.length) {
    const guard = guarded ? ` AND r.version = ${p(expectVersion)}::int` : '';
    const only = existing.length === writes.length ? '' : ` AND ${exTest}`;
    ctes.push(`upd_r AS (UPDATE resource r SET version = w.version, last_updated = w.lu, deleted = w.deleted, content = w.content
      FROM w WHERE r.tenant = $1 AND r.type = w.type AND r.id = w.id${only}${guard} RETURNING 1)`);
    // The index rows of the versions replaced: compared below with the new versions' rows, so
    // only the rows that differ are deleted and inserted (an update that changes one element
    // rewrites one row, not all of them). Plain equalities on (tenant, rtype, rid) so the planner
    // takes the *_resource index even before ANALYZE.
    replacedMatch = existing.map((w) => `(x.rtype = ${p(w.type)} AND x.rid = ${p(w.id)})`).join(' OR ');
  }
  const whereOnlyIf = guarded ? ' WHERE EXISTS (SELECT 1 FROM upd_r)' : '';
  ctes.push(`ins_h AS (INSERT INTO resource_history (tenant, type, id, version, last_updated, deleted, method, content)
    SELECT $1, w.type, w.id, w.version, w.lu, w.deleted, w.method, w.content FROM w${whereOnlyIf})`);

  let indexRowCount = 0;
  for (const t of INDEX_TABLES) {
    const spec = COLUMNS[t];
    const rtype: string[] = [];
    const rid: string[] = [];
    const param: string[] = [];
    const grp: (number | null)[] = [];
    const cols: unknown[][] = spec.cols.map(() => []);
    // Which occurrence of an identical row each row is (1, 2, …): rows are compared as a
    // multiset, so a value indexed twice stays twice.
    const occ: number[] = [];
    const seen = new Map<string, number>();
    for (const w of writes) {
      for (const row of w.index[t] as any[]) {
        const picked = spec.pick(row);
        rtype.push(w.type);
        rid.push(w.id);
        param.push(row.param);
        grp.push(row.grp);
        picked.forEach((v, i) => cols[i].push(v));
        if (replacedMatch) {
          const key = JSON.stringify([w.type, w.id, row.param, row.grp, ...picked]);
          const n = (seen.get(key) ?? 0) + 1;
          seen.set(key, n);
          occ.push(n);
        }
      }
    }
    indexRowCount += rtype.length;
    const names = ['rtype', 'rid', 'param', 'grp', ...spec.cols];
    // Equal rows: the same resource, parameter, occurrence and values (NULL equal to NULL).
    const same = (a: string, b: string) =>
      [`${a}.rtype = ${b}.rtype`, `${a}.rid = ${b}.rid`, `${a}.param = ${b}.param`, `${a}.occ = ${b}.occ`]
        .concat(['grp', ...spec.cols].map((c) => `${a}.${c} IS NOT DISTINCT FROM ${b}.${c}`))
        .join(' AND ');
    if (rtype.length > 0) {
      const arrays = [
        `${p(rtype)}::text[]`,
        `${p(rid)}::text[]`,
        `${p(param)}::text[]`,
        `${p(grp)}::smallint[]`,
        ...cols.map((c, i) => `${p(c)}::${spec.types[i]}[]`),
        ...(replacedMatch ? [`${p(occ)}::int[]`] : []),
      ];
      ctes.push(`new_${t} AS (SELECT * FROM unnest(${arrays.join(', ')}) AS n(${[...names, ...(replacedMatch ? ['occ'] : [])].join(', ')}))`);
    }
    if (replacedMatch) {
      // The replaced versions' rows, numbered as `occ` above. A row also in the new version is
      // neither deleted nor inserted again: no B-tree entries to remove and add for it.
      ctes.push(`old_${t} AS (SELECT x.ctid AS c, ${names.map((c) => `x.${c}`).join(', ')},
        row_number() OVER (PARTITION BY ${names.map((c) => `x.${c}`).join(', ')} ORDER BY x.ctid) AS occ
        FROM idx_${t} x WHERE x.tenant = $1 AND (${replacedMatch}))`);
      const kept = rtype.length > 0 ? ` AND NOT EXISTS (SELECT 1 FROM new_${t} n WHERE ${same('n', 'o')})` : '';
      ctes.push(`del_${t} AS (DELETE FROM idx_${t} x USING old_${t} o WHERE x.ctid = o.c${kept}${onlyIf})`);
    }
    if (rtype.length === 0) continue;
    const fresh = replacedMatch ? ` WHERE NOT EXISTS (SELECT 1 FROM old_${t} o WHERE ${same('o', 'n')})${onlyIf}` : whereOnlyIf;
    ctes.push(`ins_${t} AS (INSERT INTO idx_${t} (tenant, rtype, rid, param, grp, ${spec.cols.join(', ')})
      SELECT $1, ${names.map((c) => `n.${c}`).join(', ')} FROM new_${t} n${fresh})`);
  }
  // Data-modifying CTEs all run, in one snapshot; the DELETEs cannot see the rows inserted here,
  // so old index rows are removed and new ones added without interfering.
  try {
    const sql = `WITH ${ctes.join(',\n')} SELECT ${guarded ? '(SELECT count(*) FROM upd_r)::int' : '1'} AS n`;
    // Prepared, but not a text that names each replaced resource of a large batch: every count
    // would be a statement of its own, kept by each connection.
    const prepare = existing.length <= PREPARED_REPLACING_AT_MOST;
    // Statements that go with these writes (Repository.deferStatement) share their round trip.
    const { rows } = alongside.length
      ? ((await runBatch(db, [...alongside, { sql, params, prepare }], { last: options.last })).at(-1) as unknown as { rows: { n: number }[] })
      : await db.query<{ n: number }>(sql, params, { prepare, last: options.last });
    noteWrites(params.length > 0 ? 2 * writes.length + indexRowCount : 0);
    return rows[0].n > 0;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    // Two creators of one client-chosen id: the loser learns it here, with nothing written.
    if (code === '23505') fail('conflict', 'The resource was created concurrently by another request; retry the update');
    // Values PostgreSQL cannot store (a date outside its range, a number too large).
    if (code.startsWith('22')) fail('invalid', 'A value in the resource is outside the range the server can store');
    throw err;
  }
}

/**
 * The contents of a batch as a text[] expression. A small batch names each content as a
 * parameter of its own (`ARRAY[$7, $8, …]`): a lone string goes out as it is, where an array
 * parameter is an array literal that escapes every quote of the JSON again (`\\"` for `"`), near
 * doubling what is built, sent and parsed. A large batch (a bundle) keeps one array parameter:
 * the statement's text, prepared, then does not vary with its size.
 */
const CONTENTS_AS_PARAMS = 32;
const PREPARED_REPLACING_AT_MOST = 8;
function contentArray(writes: VersionWrite[], p: (v: unknown) => string): string {
  const contents = writes.map((w) => (w.deleted ? '' : w.content));
  if (writes.length > CONTENTS_AS_PARAMS) return p(contents);
  return `ARRAY[${contents.map((x) => `${p(x)}::text`).join(', ')}]`;
}
