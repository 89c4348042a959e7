import { type Cursor, keysetCondition, orderBy } from './paging.ts';
import type { OrderKey } from './sort.ts';
import type { Sql } from './sql.ts';

/**
 * The SQL of one search page and of its count, over the resource table `r` with `base` =
 * `FROM resource r WHERE r.tenant = $1 AND <types> AND <filters> AND <access>`, or with the access
 * test apart as `late`, a predicate on the candidate row `v` (store/search/access.ts `testedLate`).
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
export function pageQuery(q: Sql, base: string, keys: OrderKey[], cursor: Cursor | undefined, limit: number, late?: string, table = 'resource'): string {
  const backward = cursor?.d === 'p';
  // `ordered`: the candidates as (type, id, k0…) in page order, without LIMIT.
  let ordered: string;
  if (!keys.some((k) => k.computed)) {
    const exprs = keys.map((k) => k.expr);
    const where = cursor ? ` AND (${keysetCondition(q, exprs, keys, cursor, backward)})` : '';
    ordered = `SELECT r.type, r.id${exprs.map((r, i) => `, ${r} AS k${i}`).join('')} ${base}${where} ORDER BY ${orderBy(exprs, keys, backward)}`;
  } else {
    const inner = `SELECT r.type, r.id${keys.map((k, i) => `, ${k.expr} AS k${i}`).join('')} ${base} OFFSET 0`;
    const refs = keys.map((_, i) => `s.k${i}`);
    const where = cursor ? ` WHERE ${keysetCondition(q, refs, keys, cursor, backward)}` : '';
    ordered = `SELECT s.type, s.id${refs.map((r, i) => `, ${r} AS k${i}`).join('')} FROM (${inner}) s${where} ORDER BY ${orderBy(refs, keys, backward)}`;
  }
  const limitN = `LIMIT ${q.p(limit + 1, 'int')}`;
  // Late access (access.ts `testedLate`): the candidates come out of their subquery in order and
  // the test runs on each until the LIMIT is met. The outer level must stay a single scan with no
  // ORDER BY and no join: only then does PostgreSQL plan the subquery for the LIMIT's few rows
  // (walking a sort index and stopping) instead of for all of them. Hence no outer ORDER BY (the
  // final statement sorts the page) and the test inside a scalar subquery, whose EXISTS stay
  // per-row SubPlans instead of becoming joins. `(SELECT 1 WHERE …) IS NOT NULL` rather than the
  // bare boolean: the planner takes a subquery's boolean to pass half the rows and would plan the
  // candidates for twice the page (sorting all of them rather than walking an index), while it
  // takes IS NOT NULL of an expression to pass nearly all, which is what the caseloads tested late
  // mostly do; when they do not, the probes stay the same, only more candidates are read.
  const page = late
    ? `SELECT v.type, v.id${keys.map((_, i) => `, v.k${i}`).join('')} FROM (${ordered}) v WHERE (SELECT 1 WHERE ${late}) IS NOT NULL ${limitN}`
    : `${ordered} ${limitN}`;
  const pRefs = keys.map((_, i) => `p.k${i}`);
  return `SELECT p.type, p.id${pRefs.map((r, i) => `, ${r}::text AS k${i}`).join('')}, c.content FROM (${page}) p JOIN ${table} c ON c.tenant = $1 AND c.type = p.type AND c.id = p.id ORDER BY ${orderBy(pRefs, keys, backward)}`;
}

/** `late`: the access test on the candidate row `v` (see pageQuery), when it is not in `base`. */
export function countQuery(base: string, late?: string): string {
  return late ? `SELECT count(*)::int AS n FROM (SELECT r.type, r.id ${base}) v WHERE ${late}` : `SELECT count(*)::int AS n ${base}`;
}
