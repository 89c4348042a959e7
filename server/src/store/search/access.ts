import { OperationOutcomeError } from '@medplum/core';
import { fail } from '../../fhir/outcome.ts';
import { type FilterEnv, compileFilter, toPredicate } from './filter.ts';
import { parseFilter } from './parse.ts';
import type { Sql } from './sql.ts';
import { and, or } from './sql.ts';
import type { Filter } from './types.ts';

/**
 * The access decision (../../access/policy.ts) composed INTO the SQL: a 'match' constraint is an
 * OR of search-parameter sets, each compiled with the same machinery as the request's own
 * filters and ANDed onto the resource row — so a page, a count and an include never contain a
 * resource the caller may not see, and nothing is filtered after loading.
 */
export function accessPredicate(q: Sql, type: string, alias: string, env: FilterEnv): string {
  const c = env.access.readConstraint(type, env.permission ?? 's');
  if (c.kind === 'all') return 'TRUE';
  if (c.kind === 'deny') return 'FALSE';
  const trusted: FilterEnv = { ...env, trusted: true };
  return or(
    c.any.map((set) =>
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
          return toPredicate(compileFilter(q, [type], f, trusted), [type], alias);
        })
      )
    )
  );
}

/**
 * Access over a row that may be one of several types (system search, includes): types with full
 * access share one `type = ANY(...)`, constrained types each get their own branch, denied types
 * none. Returns 'FALSE' when nothing is visible. `typesChecked`: the row is already known to
 * be one of `types` (the main query), so full access needs no type test of its own.
 */
export function accessForTypes(q: Sql, types: string[], alias: string, env: FilterEnv, typesChecked = false): string {
  const open: string[] = [];
  const branches: string[] = [];
  for (const t of types) {
    const c = env.access.readConstraint(t, env.permission ?? 's');
    if (c.kind === 'all') open.push(t);
    else if (c.kind === 'match') branches.push(and([`${alias}.type = ${q.p(t)}`, accessPredicate(q, t, alias, env)]));
  }
  // The caller already limited the row to `types`, all of them fully visible: nothing to add.
  if (typesChecked && open.length === types.length) return 'TRUE';
  const parts: string[] = [];
  if (open.length === 1) parts.push(`${alias}.type = ${q.p(open[0])}`);
  else if (open.length > 1) parts.push(`${alias}.type = ANY(${q.p(open, 'text[]')})`);
  return or([...parts, ...branches]);
}
