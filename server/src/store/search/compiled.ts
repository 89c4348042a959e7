import type { AccessPolicy } from '../../access/policy.ts';
import type { Permission } from '../../access/scopes.ts';
import type { Sql } from './sql.ts';
import type { Filter } from './types.ts';

/**
 * What the search compilers share (filter.ts, chain.ts, access.ts, compile.ts): the environment
 * they compile in, what a compiled filter is (a set of matching ids, or a predicate on a resource
 * row), and the SQL over such sets. A module of its own so that none of them imports another
 * just for these.
 */
export interface FilterEnv {
  access: AccessPolicy;
  fhirBase: string;
  /** Inside an access constraint: chains there are the server's own rule, not re-checked. */
  trusted?: boolean;
  /**
   * The permission asked of the access policy: 's' for a search, 'r' for a read's visibility
   * check, 'c'/'u'/'d' for the repository's before/after checks of a write.
   */
  permission?: Permission;
}

export type Compiled = { set: string } | { where: (alias: string) => string };

export const TABLE: Record<string, string> = {
  string: 'idx_string',
  token: 'idx_token',
  reference: 'idx_reference',
  date: 'idx_date',
  number: 'idx_number',
  quantity: 'idx_quantity',
  uri: 'idx_uri',
};

/** `col = $T` for one type, `col = ANY($Ts)` for several. */
export function typeMatch(q: Sql, col: string, types: string[]): string {
  return types.length === 1 ? `${col} = ${q.p(types[0])}` : `${col} = ANY(${q.p(types, 'text[]')})`;
}

/** What a set selects: the id alone for one type, (type, id) for several. */
export function setColumns(types: string[], typeCol: string, idCol: string): string {
  return types.length === 1 ? idCol : `${typeCol}, ${idCol}`;
}

export function toPredicate(c: Compiled, types: string[], alias: string): string {
  if ('where' in c) return c.where(alias);
  return types.length === 1 ? `${alias}.id IN (${c.set})` : `(${alias}.type, ${alias}.id) IN (${c.set})`;
}

/**
 * Filters, chains and access constraints refer to each other: a chain's target is searched under
 * the caller's access, and a granular-scope constraint is itself a filter. chain.ts and access.ts
 * receive the compilers they recurse into as this parameter instead of importing each other; the
 * recursion is tied once, in compile.ts.
 */
export interface Compilers {
  filter(q: Sql, types: string[], f: Filter, env: FilterEnv): Compiled;
  access(q: Sql, type: string, alias: string, env: FilterEnv): string;
}
