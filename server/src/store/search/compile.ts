import type { ReadConstraint } from '../../access/constraint.ts';
import * as access from './access.ts';
import { fail } from '../../kernel/outcome.ts';
import { AUDIT_TYPE } from '../audit-table.ts';
import { auditReferrers, compileAuditChain, compileAuditParam } from './audit.ts';
import { compileChain, compileHas, idSet } from './chain.ts';
import type { Compiled, Compilers, FilterEnv } from './compiled.ts';
import { compileParam } from './filter.ts';
import type { Sql } from './sql.ts';
import type { Filter } from './types.ts';

/**
 * The search compiler's entry points, and the one place its recursion is tied. A chain or `_has`
 * compiles another filter under the caller's access (chain.ts); a granular-scope access
 * constraint is itself a filter (access.ts). Those modules take the compilers they recurse into
 * as a parameter (compiled.ts `Compilers`) instead of importing each other, so store/search has
 * no import cycle; everything outside them calls the functions here.
 */
const compilers: Compilers = { filter: compileFilter, access: accessPredicate };

/** One parsed filter (a parameter, a chain or a `_has`) → a set of matching ids or a row predicate. */
export function compileFilter(q: Sql, types: string[], f: Filter, env: FilterEnv): Compiled {
  // AuditEvents have their own table, searched over its keys (audit.ts).
  if (types.length === 1 && types[0] === AUDIT_TYPE) {
    // _id and _lastUpdated are columns of its row, compiled as for every type.
    if (f.kind === 'param' && f.param.code !== '_id' && f.param.code !== '_lastUpdated') return compileAuditParam(q, f);
    if (f.kind === 'chain') return compileAuditChain(q, f, env, (t) => idSet(q, t.type, t.filter, env, compilers));
  }
  if (f.kind === 'has' && f.type === AUDIT_TYPE) {
    if (!env.trusted && env.access.readConstraint(f.type, env.permission ?? 's').kind === 'deny') {
      fail('forbidden', `The granted scopes do not allow searching ${f.type} (in '${f.name}')`, f.name);
    }
    return auditReferrers(q, types, f, idSet(q, f.type, f.filter, env, compilers));
  }
  switch (f.kind) {
    case 'chain':
      return compileChain(q, types, f, env, compilers);
    case 'has':
      return compileHas(q, types, f, env, compilers);
    default:
      return compileParam(q, types, f, env.fhirBase);
  }
}

/** The caller's access to `type`, as a predicate on the resource row `alias` (access.ts). */
export function accessPredicate(q: Sql, type: string, alias: string, env: FilterEnv): string {
  return access.accessPredicate(q, type, alias, env, compileFilter);
}

/** One access constraint as a predicate on the row `alias` (access.ts `compileConstraint`). */
export function compileConstraint(q: Sql, type: string | undefined, alias: string, c: ReadConstraint, env: FilterEnv): string {
  return access.compileConstraint(q, type, alias, c, env, compileFilter);
}

/** The caller's access over a row that may be one of several types (access.ts `accessForTypes`). */
export function accessForTypes(q: Sql, types: string[], alias: string, env: FilterEnv, typesChecked = false): string {
  return access.accessForTypes(q, types, alias, env, typesChecked, compileFilter);
}

/** Whether the caller's access to `types` is tested on the page's candidates (access.ts `testedLate`). */
export function testedLate(env: FilterEnv, types: string[]): boolean {
  return access.testedLate(env.access, types, env.permission);
}
