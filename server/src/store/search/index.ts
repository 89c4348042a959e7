import type { Bundle, BundleLink, Resource } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../../access/policy.ts';
import type { Permission } from '../../access/scopes.ts';
import type { Queryable } from '../../db/database.ts';
import { loadDefinitions, resourceTypes } from '../../kernel/definitions.ts';
import { AUDIT_TABLE, AUDIT_TYPE } from '../audit-table.ts';
import { fail } from '../../kernel/outcome.ts';
import { accessForTypes, accessPredicate, compileFilter, testedLate } from './compile.ts';
import { type BundleRow, searchsetBundle } from './bundle.ts';
import { combineRanges } from './combine.ts';
import { type Compiled, type FilterEnv, toPredicate, typeMatch } from './compiled.ts';
import { INCLUDE_LIMIT, loadIncludes } from './include.ts';
import { CURSOR_PARAM, allResourceTypes, parseSearch } from './parse.ts';
import { type Cursor, decodeCursor, encodeCursor, searchUrl } from './paging.ts';
import { countQuery, pageQuery } from './query.ts';
import { orderKeys } from './sort.ts';
import { Sql, and } from './sql.ts';
import { fixedPlan, isAnchor } from './prepared.ts';
import type { Filter, ParsedSearch } from './types.ts';

/**
 * FHIR search executed as SQL over the index tables (see ../../db/migrations/001-core.sql).
 * CONTRACT (used by the repository and the HTTP layer):
 */
export interface SearchContext {
  tenant: string;
  /** FHIR base URL, e.g. http://localhost:8080/fhir/R4 (for fullUrl and paging links). */
  fhirBase: string;
  access: AccessPolicy;
  /** Prefer: handling=lenient — unknown/unsupported parameters are ignored (and reported) instead of 400. */
  lenient: boolean;
  defaultCount: number;
  maxCount: number;
  /**
   * The permission checked with `access.readConstraint` (default 's'). The repository's
   * read-visibility check (`_id=x` under a granular scope) passes 'r', so that a client allowed
   * to read but not to search still gets its read.
   */
  permission?: Permission;
}

/** The anchor's rows first, the other filters checked on them (prepared.ts `isAnchor`). */
const anchored = (set: string) => `r.id = ANY(ARRAY(${set}))`;
const probed = (set: string) => `EXISTS (SELECT 1 FROM (${set}) s(rid) WHERE s.rid = r.id OFFSET 0)`;

/**
 * Each positive set tested with `r.id IN (set)` becomes a semi-join, and the planner's work grows
 * far faster than their number: every set's id joins one equivalence class with `r.id`, and
 * PostgreSQL weighs the implied join clauses between all of them (measured on PostgreSQL 15:
 * 64 sets 0.5 s of planning, 128 sets 5.5 s, 200 sets 23 s). Up to JOINED_SETS sets are left to
 * the planner, which picks the most selective to start from; the sets beyond them are read as one
 * `INTERSECT` (one more semi-join, planned in time linear in their number). Few searches have
 * that many positive filters; those that do trade the planner's choice among them for a bound.
 */
const JOINED_SETS = 4;
function intersectBeyond(compiled: Compiled[]): Compiled[] {
  const sets = compiled.filter((c): c is { set: string } => 'set' in c);
  if (sets.length <= JOINED_SETS) return compiled;
  const rest = new Set<Compiled>(sets.slice(JOINED_SETS - 1));
  const folded = { set: [...rest].map((c) => `(${(c as { set: string }).set})`).join(' INTERSECT ') };
  return [...compiled.filter((c) => !rest.has(c)), folded];
}

/**
 * Runs a search. `resourceType` undefined means a system-level search (`GET [base]?_type=...`).
 * `params` are the decoded query pairs in request order (repetition = AND, comma = OR).
 * Returns a searchset Bundle with entries (search.mode match/include), links and total as requested.
 *
 * One statement for the page (and one for the count when asked), then one per include round.
 * Tenant, access constraint and every filter are in the SQL; nothing is filtered in JavaScript.
 */
export async function search(
  db: Queryable,
  ctx: SearchContext,
  resourceType: string | undefined,
  params: [string, string][]
): Promise<Bundle<Resource>> {
  loadDefinitions();
  const parsed = parseSearch(resourceType, params, {
    lenient: ctx.lenient,
    fhirBase: ctx.fhirBase,
    defaultCount: ctx.defaultCount,
    maxCount: ctx.maxCount,
  });
  const permission = ctx.permission ?? 's';
  const types = visibleTypes(ctx.access, parsed, permission);
  const env: FilterEnv = { access: ctx.access, fhirBase: ctx.fhirBase, permission };

  const q = new Sql(ctx.tenant);
  const conds = [typeCondition(q, parsed, types)];
  const filters = combineRanges(parsed.filters, types);
  const compiled = filters.map((f) => compileFilter(q, types, f, env));
  // Index rows exist only for live resources: when a positive index filter is present it already
  // excludes tombstones, and leaving `NOT deleted` out lets the resource side be an index-only scan.
  if (!compiled.some((c) => 'set' in c)) conds.push('NOT r.deleted');
  const sets = compiled.filter((c) => 'set' in c).length;
  const anchor = types.length === 1 && sets > 1 ? filters.findIndex((f, i) => 'set' in compiled[i] && isAnchor(f)) : -1;
  const joined = anchor < 0 ? intersectBeyond(compiled) : compiled;
  joined.forEach((c, i) => conds.push(anchor < 0 || !('set' in c) ? toPredicate(c, types, 'r') : i === anchor ? anchored(c.set) : probed(c.set)));
  // Access is ANDed onto the filters, or, when it is a per-row probe of a large caseload, tested
  // on the candidates in page order until the page is full (access.ts `testedLate`).
  const late = testedLate(env, types);
  const alias = late ? 'v' : 'r';
  const accessSql = types.length === 1 ? accessPredicate(q, types[0], alias, env) : accessForTypes(q, types, alias, env, true);
  const lateSql = late && accessSql !== 'TRUE' ? accessSql : undefined;
  if (!lateSql) conds.push(accessSql);
  // AuditEvents are searched in their own table (../audit-table.ts); the parser keeps them apart from other types.
  const audit = types.length === 1 && types[0] === AUDIT_TYPE;
  const table = audit ? AUDIT_TABLE : 'resource';
  const base = `FROM ${table} r WHERE r.tenant = $1 AND ${and(conds)}`;
  const baseParams = q.params.slice();

  const link = (relation: string, cursor?: Cursor): BundleLink => ({
    relation,
    url: searchUrl(ctx.fhirBase, resourceType, cursor ? [...parsed.linkParams, [CURSOR_PARAM, encodeCursor(cursor)]] : parsed.linkParams),
  });

  // _summary=count and _count=0: the total alone (R4 search.html#summary, #count).
  if (parsed.summary === 'count' || parsed.count === 0) {
    const { rows } = await db.query<{ n: number }>(countQuery(base, lateSql), baseParams);
    return searchsetBundle({ fhirBase: ctx.fhirBase, total: Number(rows[0].n), links: [link('self')], matches: [], includes: [], warnings: parsed.warnings });
  }

  const keys = orderKeys(q, parsed.sort, 'r', types.length > 1, audit);
  const cursor = parsed.cursor ? decodeCursor(parsed.cursor, keys) : undefined;
  const wantCount = parsed.total === 'accurate' || parsed.total === 'estimate';
  // Named and prepared where its plan cannot depend on the values (prepared.ts).
  // Not the audit table's: its keys' selectivity differs by orders of magnitude between values.
  const prepare = !audit && fixedPlan(filters, anchor, types, Boolean(lateSql));
  const [page, counted] = await Promise.all([
    db.query<BundleRow & Record<string, string | null>>(pageQuery(q, base, keys, cursor, parsed.count, lateSql, table), q.params, { prepare }),
    wantCount ? db.query<{ n: number }>(countQuery(base, lateSql), baseParams) : undefined,
  ]);

  // One row beyond the page tells whether there is more in the direction of travel.
  const backward = cursor?.d === 'p';
  const more = page.rows.length > parsed.count;
  let rows = page.rows.slice(0, parsed.count);
  if (backward) rows = rows.reverse();
  const keyOf = (row: Record<string, string | null>, d: Cursor['d']): Cursor => ({ k: keys.map((_, i) => row[`k${i}`]), d });

  const links: BundleLink[] = [link('self', cursor), link('first')];
  if (rows.length > 0) {
    if (cursor && (!backward || more)) links.push(link('previous', keyOf(rows[0], 'p')));
    if (backward || more) links.push(link('next', keyOf(rows[rows.length - 1], 'n')));
  }

  // _total (R4 search.html#total): counted when asked; otherwise only when it is known for free.
  let total: number | undefined;
  if (counted) total = Number(counted.rows[0].n);
  else if (parsed.total === undefined && !cursor && !more) total = rows.length;

  const warnings = [...parsed.warnings];
  let includes: BundleRow[] = [];
  if (parsed.includes.length && rows.length) {
    const inc = await loadIncludes(db, ctx.tenant, env, parsed.includes, rows);
    includes = inc.rows;
    if (inc.truncated) warnings.push(`Included resources were limited to ${INCLUDE_LIMIT} per round`);
  }

  return searchsetBundle({
    fhirBase: ctx.fhirBase,
    total,
    links,
    matches: rows,
    includes,
    warnings,
    subset: parsed.summary || parsed.elements ? { summary: parsed.summary as 'true' | 'text' | 'data' | 'false' | undefined, elements: parsed.elements } : undefined,
  });
}

/**
 * The type test of the main query. A system search without _type over every type is written as
 * "not one of the excluded types" so that the primary key (tenant, type, id) still serves the
 * default order; `type = ANY(<all 146 types>)` would make PostgreSQL sort the whole tenant.
 */
function typeCondition(q: Sql, parsed: ParsedSearch, types: string[]): string {
  const all = allResourceTypes();
  if (parsed.explicitTypes || types.length !== all.length) return typeMatch(q, 'r.type', types);
  const excluded = resourceTypes().filter((t) => !all.includes(t));
  return excluded.length ? `r.type <> ALL(${q.p(excluded, 'text[]')})` : 'TRUE';
}

/**
 * The searched types the caller may see. A type the client named (the search type, or one listed
 * in _type) that the caller may not search is a 403; in a system search without _type, the
 * types it may not search are simply not searched.
 */
function visibleTypes(access: AccessPolicy, parsed: ParsedSearch, permission: Permission): string[] {
  const denied = parsed.types.filter((t) => access.readConstraint(t, permission).kind === 'deny');
  if (parsed.explicitTypes && denied.length) {
    fail('forbidden', `The granted scopes do not allow searching ${denied.join(', ')}`);
  }
  const types = parsed.types.filter((t) => !denied.includes(t));
  if (types.length === 0) fail('forbidden', 'The granted scopes do not allow searching any resource type');
  return types;
}
