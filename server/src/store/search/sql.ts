/**
 * A tiny SQL assembler: every value goes in as a bind parameter ($n), never into the SQL text,
 * and `$1` is always the tenant so each table reference can say `tenant = $1`.
 * Identifiers in the text (aliases, table and column names) come only from this code.
 */
export class Sql {
  readonly params: unknown[];
  private aliasCount = 0;

  constructor(tenant: string) {
    this.params = [tenant];
  }

  /** Adds a bind parameter, optionally with a cast so PostgreSQL knows its type. */
  p(value: unknown, cast?: string): string {
    this.params.push(value);
    return cast ? `$${this.params.length}::${cast}` : `$${this.params.length}`;
  }

  /** A fresh table alias (x1, x2, …) so nested subqueries never capture each other's columns. */
  alias(prefix: string): string {
    this.aliasCount++;
    return `${prefix}${this.aliasCount}`;
  }
}

/** AND of conditions; an empty list is TRUE. */
export function and(conds: string[]): string {
  const c = conds.filter((s) => s && s !== 'TRUE');
  if (c.length === 0) return 'TRUE';
  if (c.length === 1) return c[0];
  return c.map((s) => `(${s})`).join(' AND ');
}

/** OR of conditions; an empty list is FALSE. */
export function or(conds: string[]): string {
  if (conds.some((s) => s === 'TRUE')) return 'TRUE';
  const c = conds.filter((s) => s && s !== 'FALSE');
  if (c.length === 0) return 'FALSE';
  if (c.length === 1) return c[0];
  return c.map((s) => `(${s})`).join(' OR ');
}
