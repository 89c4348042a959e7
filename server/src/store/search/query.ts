import { type Cursor, keysetCondition, orderBy } from './paging.ts';
import type { OrderKey } from './sort.ts';
import type { Sql } from './sql.ts';

/**
 * The SQL of one search page and of its count, over the resource table `r` with `base` =
 * `FROM resource r WHERE r.tenant = $1 AND <types> AND <filters> AND <access>`.
 *
 * The page is chosen on ids and sort keys alone and the content joined for its n+1 rows only:
 *   SELECT p.*, c.content FROM (<page of (type, id, k0…)> LIMIT n+1) p JOIN resource c ON (tenant, type, id)
 * Without the content the planner can answer the page from indexes alone (e.g. merge the rids of
 * `patient=X`, in order from the index, with the resource primary key and stop after n+1), where
 * selecting content directly makes it fetch and sort every candidate's content (4 ms vs 0.3 ms
 * for a patient with 900 observations).
 *
 * Plain column keys (id, last_updated) are ordered directly so an index can deliver the order.
 * Computed keys (per-row min/max subqueries) are computed in a fenced subquery (OFFSET 0) so each
 * is evaluated once per row rather than again in WHERE and ORDER BY.
 */
export function pageQuery(q: Sql, base: string, keys: OrderKey[], cursor: Cursor | undefined, limit: number): string {
  const backward = cursor?.d === 'p';
  let page: string;
  if (!keys.some((k) => k.computed)) {
    const refs = keys.map((k) => k.expr);
    const where = cursor ? ` AND (${keysetCondition(q, refs, keys, cursor, backward)})` : '';
    page = `SELECT r.type, r.id${refs.map((r, i) => `, ${r} AS k${i}`).join('')} ${base}${where} ORDER BY ${orderBy(refs, keys, backward)} LIMIT ${q.p(limit + 1, 'int')}`;
  } else {
    const inner = `SELECT r.type, r.id${keys.map((k, i) => `, ${k.expr} AS k${i}`).join('')} ${base} OFFSET 0`;
    const sRefs = keys.map((_, i) => `s.k${i}`);
    const where = cursor ? ` WHERE ${keysetCondition(q, sRefs, keys, cursor, backward)}` : '';
    page = `SELECT s.type, s.id${sRefs.map((r) => `, ${r}`).join('')} FROM (${inner}) s${where} ORDER BY ${orderBy(sRefs, keys, backward)} LIMIT ${q.p(limit + 1, 'int')}`;
  }
  const pRefs = keys.map((_, i) => `p.k${i}`);
  return `SELECT p.type, p.id${pRefs.map((r, i) => `, ${r}::text AS k${i}`).join('')}, c.content FROM (${page}) p JOIN resource c ON c.tenant = $1 AND c.type = p.type AND c.id = p.id ORDER BY ${orderBy(pRefs, keys, backward)}`;
}

export function countQuery(base: string): string {
  return `SELECT count(*)::int AS n ${base}`;
}
