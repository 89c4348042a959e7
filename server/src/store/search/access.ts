import { OperationOutcomeError } from '@medplum/core';
import type { ReadConstraint } from '../../access/constraint.ts';
import { patientCompartmentParams } from '../../kernel/compartment.ts';
import { fail } from '../../kernel/outcome.ts';
import { AUDIT_TYPE } from '../audit-table.ts';
import { dateRange } from '../date-range.ts';
import { auditConstraint } from './audit.ts';
import { type Compilers, type FilterEnv, toPredicate } from './compiled.ts';
import { parseFilter } from './parse.ts';
import type { Sql } from './sql.ts';
import { and, or, textArray } from './sql.ts';
import type { Filter } from './types.ts';

/**
 * The access decision (../../access/policy.ts) composed INTO the SQL: the caller's constraint for
 * the type is compiled into a predicate on the resource row `alias` (which needs only `type` and
 * `id` columns: `resource` or `resource_history`) and ANDed onto it — so a page, a count, a
 * chain, an include and a history page never contain a resource the caller may not see, and
 * nothing is filtered after loading. Every lookup is tenant-first and by resource
 * (idx_reference_resource, idx_token_resource): one index probe per candidate row.
 * `filter` compiles the filters of granular-scope constraints (compiled.ts `Compilers`); callers
 * use the entry points of compile.ts, which pass it.
 */
export function accessPredicate(q: Sql, type: string, alias: string, env: FilterEnv, filter: Compilers['filter']): string {
  return compileConstraint(q, type, alias, env.access.readConstraint(type, env.permission ?? 's'), env, filter);
}

/**
 * `type` undefined: the constraint is compiled for whatever type the row has (`alias.type`), so
 * that types sharing one type-independent constraint (labels, ids, references) share one branch;
 * `compartment` and `match` always need their type.
 */
export function compileConstraint(q: Sql, type: string | undefined, alias: string, c: ReadConstraint, env: FilterEnv, filter: Compilers['filter']): string {
  // A part that folds to TRUE or FALSE leaves no bind parameters behind: PostgreSQL cannot type
  // a parameter the statement never mentions.
  const mark = q.params.length;
  const sql = compileNode(q, type, alias, c, env, filter);
  if (sql === 'TRUE' || sql === 'FALSE') {
    q.params.length = mark;
    return sql;
  }
  // Parenthesized, so that callers may write `… AND ${predicate}` whatever its shape.
  return `(${sql})`;
}

function compileNode(q: Sql, type: string | undefined, alias: string, c: ReadConstraint, env: FilterEnv, filter: Compilers['filter']): string {
  // An AuditEvent row has no index rows: its leaves read the row's own keys (audit.ts).
  const audit = type === AUDIT_TYPE ? auditConstraint(q, alias, c) : undefined;
  if (audit !== undefined) return audit;
  // Only the leaves that use it add the type as a parameter: an unused parameter cannot be typed.
  const rtype = (): string => (type === undefined ? `${alias}.type` : q.p(type));
  switch (c.kind) {
    case 'all':
      return 'TRUE';
    case 'deny':
      return 'FALSE';
    case 'and': {
      const parts = c.all.map((x) => compileConstraint(q, type, alias, x, env, filter));
      return parts.includes('FALSE') ? 'FALSE' : and(parts);
    }
    case 'or':
      return or(c.any.map((x) => compileConstraint(q, type, alias, x, env, filter)));
    case 'match':
      return type === undefined ? 'FALSE' : matchPredicate(q, type, alias, c.any, env, filter);
    case 'ids':
      return c.ids.length === 0 ? 'FALSE' : `${alias}.id = ANY(${q.p(c.ids, 'text[]')})`;
    case 'compartment':
      return type === undefined ? 'FALSE' : compartmentPredicate(q, type, alias, c.patients);
    case 'refers': {
      const x = q.alias('a');
      const targets = c.targets.map((t) => t.split('/'));
      const target = or(targets.map(([tt, ti]) => `${x}.target_type = ${q.p(tt)} AND ${x}.target_id = ${q.p(ti)}`));
      return `EXISTS (SELECT 1 FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${rtype()} AND ${x}.rid = ${alias}.id AND ${x}.param = ANY(${q.p(c.params, 'text[]')}) AND (${target}))`;
    }
    case 'not': {
      const inner = compileConstraint(q, type, alias, c.of, env, filter);
      return inner === 'TRUE' ? 'FALSE' : inner === 'FALSE' ? 'TRUE' : `NOT ${inner}`;
    }
    case 'dated': {
      // [low, high) of the record's date inside [start's low, end's high): a dataPeriod "2024" covers all of 2024.
      const low = c.start === undefined ? undefined : dateRange(c.start)?.low;
      const high = c.end === undefined ? undefined : dateRange(c.end)?.high;
      if ((c.start !== undefined && !low) || (c.end !== undefined && !high) || c.params.length === 0) return 'FALSE';
      const x = q.alias('a');
      const bounds = [low ? `${x}.low >= ${q.p(low, 'timestamptz')}` : '', high ? `${x}.high <= ${q.p(high, 'timestamptz')}` : ''].filter(Boolean);
      return `EXISTS (SELECT 1 FROM idx_date ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${rtype()} AND ${x}.rid = ${alias}.id AND ${x}.param = ANY(${q.p(c.params, 'text[]')})${bounds.map((b) => ` AND ${b}`).join('')})`;
    }
    case 'unlabelled': {
      // meta.security is indexed as the `_security` token (system, code) of every resource.
      const x = q.alias('a');
      const bySystem = new Map<string, string[]>();
      for (const l of c.labels) bySystem.set(l.system, [...(bySystem.get(l.system) ?? []), l.code]);
      const labels = or([...bySystem].map(([s, codes]) => `${x}.system = ${q.p(s)} AND ${x}.code = ANY(${q.p(codes, 'text[]')})`));
      return `NOT EXISTS (SELECT 1 FROM idx_token ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${rtype()} AND ${x}.rid = ${alias}.id AND ${x}.param = '_security' AND (${labels}))`;
    }
  }
}

/**
 * In the Patient compartment (R4 CompartmentDefinition Patient) of one of `patients`: a Patient
 * by its id, another type when one of its compartment parameters references one of them.
 */
/** Up to this many patients the compartment test is an EXISTS; above it a per-row probe. */
const FEW_PATIENTS = 20;

function compartmentPredicate(q: Sql, type: string, alias: string, patients: string[]): string {
  if (patients.length === 0) return 'FALSE';
  if (type === 'Patient') return patients.length === 1 ? `${alias}.id = ${q.p(patients[0])}` : `${alias}.id = ANY(${q.p(textArray(patients), 'text[]')})`;
  const params = patientCompartmentParams().get(type);
  if (!params?.length) return 'FALSE';
  const x = q.alias('a');
  const param = params.length === 1 ? `${x}.param = ${q.p(params[0])}` : `${x}.param = ANY(${q.p(params, 'text[]')})`;
  // A few patients (a patient/ token, a small caseload): EXISTS, which PostgreSQL may turn into a
  // semi-join driven from the patients' references — far fewer rows than probing every candidate.
  if (patients.length <= FEW_PATIENTS) {
    const target = patients.length === 1 ? `${x}.target_id = ${q.p(patients[0])}` : `${x}.target_id = ANY(${q.p(patients, 'text[]')})`;
    return `EXISTS (SELECT 1 FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${q.p(type)} AND ${x}.rid = ${alias}.id AND ${param} AND ${x}.target_type = 'Patient' AND ${target})`;
  }
  // Many: a scalar subquery (a SubPlan: one idx_reference_resource probe per row), not EXISTS:
  // PostgreSQL would pull an EXISTS up into a semi-join and estimate a list of hundreds of treated
  // patients as matching ~2% of rows, so that `_sort…&_count=10` sorts every candidate instead of
  // walking the sort index and stopping after the page (Encounter?status&_sort=-_lastUpdated:
  // 430 ms vs 27). With one patient the probe made a patient/ token's search mix 6x slower.
  // `target_id || ''`: an expression without statistics, so that planning does not weigh each of
  // the hundreds of ids against target_id's most common values (433 ids: 1.3 ms of planning per
  // statement, against 0.6 ms so); the probe is by rid either way, and the list stays a constant
  // that PostgreSQL hashes once per statement.
  const probeMany = `${x}.tenant = $1 AND ${x}.rtype = ${q.p(type)} AND ${x}.rid = ${alias}.id AND ${param} AND ${x}.target_type = 'Patient' AND (${x}.target_id || '') = ANY(${q.p(textArray(patients), 'text[]')})`;
  return `COALESCE((SELECT TRUE FROM idx_reference ${x} WHERE ${probeMany} LIMIT 1), FALSE)`;
}

/** Granular scopes: an OR of search-parameter sets, compiled like the request's own filters. */
function matchPredicate(q: Sql, type: string, alias: string, any: [string, string][][], env: FilterEnv, filter: Compilers['filter']): string {
  const trusted: FilterEnv = { ...env, trusted: true };
  return or(
    any.map((set) =>
      and(
        set.map(([name, value]) => {
          let f: Filter;
          try {
            f = parseFilter([type], name, value, env);
          } catch (err) {
            // A constraint we cannot apply must not widen access: fail closed.
            if (err instanceof OperationOutcomeError) fail('forbidden', `The access constraint on ${type} cannot be applied`);
            throw err;
          }
          return toPredicate(filter(q, [type], f, trusted), [type], alias);
        })
      )
    )
  );
}

/**
 * Whether the caller's access to `types` is best tested late: on the page's candidates in their
 * order, one at a time until the page is full (query.ts `pageQuery` with `late`), rather than as a
 * filter of the resource scan. True when a constraint holds a caseload too large for the EXISTS
 * form (FEW_PATIENTS): that test is a per-row probe whatever its place, and PostgreSQL evaluates a
 * probe on the resource scan, i.e. on EVERY candidate before the sort and the LIMIT (a clinician
 * treating 617 patients: Observation?code=…&date=… probed the 3,680 observations of the code, 31 µs
 * each, for a page of 20; the system token's plan stops after 21). Late, it probes the rows the
 * page reads, and never more candidates than the filter did. A small caseload keeps the EXISTS in
 * the scan, where the planner may start from the patients' references instead. A constraint with a
 * `match` leaf is never late: a granular scope's filters may read any column of the row.
 */
export function testedLate(access: FilterEnv['access'], types: string[], permission: FilterEnv['permission']): boolean {
  const walk = (type: string, c: ReadConstraint): { large: boolean; rowOnly: boolean } => {
    switch (c.kind) {
      case 'and':
      case 'or': {
        const parts = (c.kind === 'and' ? c.all : c.any).map((x) => walk(type, x));
        return { large: parts.some((x) => x.large), rowOnly: parts.every((x) => x.rowOnly) };
      }
      case 'not':
        return walk(type, c.of);
      case 'compartment':
        // A Patient is tested by its own id, a list the scan can start from (the primary key).
        return { large: type !== 'Patient' && c.patients.length > FEW_PATIENTS, rowOnly: type !== 'Patient' };
      case 'match':
        return { large: false, rowOnly: false };
      default:
        return { large: false, rowOnly: true };
    }
  };
  const found = types.map((t) => walk(t, access.readConstraint(t, permission ?? 's')));
  return found.some((x) => x.large) && found.every((x) => x.rowOnly);
}

/**
 * Access over a row that may be one of several types (system search, includes, history,
 * $everything): types with full access share one `type = ANY(...)`, constrained types each get
 * their own branch, denied types none. Returns 'FALSE' when nothing is visible. `typesChecked`:
 * the row is already known to be one of `types` (the main query), so full access needs no type
 * test of its own.
 */
export function accessForTypes(q: Sql, types: string[], alias: string, env: FilterEnv, typesChecked: boolean, filter: Compilers['filter']): string {
  const open: string[] = [];
  const branches: string[] = [];
  // Types whose constraint does not depend on the type (labels, ids, references) are grouped, so a
  // system search over 146 types under one label rule is one branch, not 146.
  const shared = new Map<string, { c: ReadConstraint; types: string[] }>();
  for (const t of types) {
    const c = env.access.readConstraint(t, env.permission ?? 's');
    if (c.kind === 'all') open.push(t);
    else if (c.kind === 'deny') continue;
    else if (typeIndependent(c)) {
      const key = JSON.stringify(c);
      const g = shared.get(key);
      if (g) g.types.push(t);
      else shared.set(key, { c, types: [t] });
    } else branches.push(and([`${alias}.type = ${q.p(t)}`, compileConstraint(q, t, alias, c, env, filter)]));
  }
  // The caller already limited the row to `types`, all of them fully visible: nothing to add.
  if (typesChecked && open.length === types.length) return 'TRUE';
  for (const { c, types: ts } of shared.values()) {
    const typeTest = typesChecked && ts.length === types.length ? 'TRUE' : typeIn(q, alias, ts);
    branches.push(and([typeTest, compileConstraint(q, undefined, alias, c, env, filter)]));
  }
  const parts: string[] = [];
  if (open.length) parts.push(typeIn(q, alias, open));
  return or([...parts, ...branches]);
}

function typeIn(q: Sql, alias: string, types: string[]): string {
  return types.length === 1 ? `${alias}.type = ${q.p(types[0])}` : `${alias}.type = ANY(${q.p(types, 'text[]')})`;
}

function typeIndependent(c: ReadConstraint): boolean {
  switch (c.kind) {
    case 'and':
      return c.all.every(typeIndependent);
    case 'or':
      return c.any.every(typeIndependent);
    case 'not':
      return typeIndependent(c.of);
    case 'compartment':
    case 'match':
      return false;
    default:
      return true;
  }
}

/** The `not` leaves that carry a refusal, anywhere in `c`: what a refused write can be told. */
export function explainedLeaves(c: ReadConstraint): Extract<ReadConstraint, { kind: 'not' }>[] {
  if (c.kind === 'not') return c.refusal ? [c] : [];
  if (c.kind === 'and') return c.all.flatMap(explainedLeaves);
  if (c.kind === 'or') return c.any.flatMap(explainedLeaves);
  return [];
}
