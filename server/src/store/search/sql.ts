/**
 * A tiny SQL assembler: every value goes in as a bind parameter ($n), never into the SQL text,
 * and `$1` is always the tenant so each table reference can say `tenant = $1`.
 * Identifiers in the text (aliases, table and column names) come only from this code.
 */
export class Sql {
  readonly params: unknown[];
  /** The cast each parameter was added with (by position; entries past `params.length` are stale). */
  private readonly casts: (string | undefined)[] = [undefined];
  private aliasCount = 0;

  constructor(tenant: string) {
    this.params = [tenant];
  }

  /**
   * Adds a bind parameter, optionally with a cast so PostgreSQL knows its type. A list named again
   * with the same cast (the same array, or the same array literal) is the parameter it already
   * is: a clinician's caseload appears in the page's access test, a chain's and an include's, and
   * PostgreSQL parses every text[] parameter anew (array_in was an eighth of the database CPU of
   * the clinician's search mix, perf of `npm run bench`).
   */
  p(value: unknown, cast?: string): string {
    if (cast?.endsWith('[]')) {
      const i = this.params.indexOf(value);
      if (i > 0 && this.casts[i] === cast) return `$${i + 1}::${cast}`;
    }
    this.params.push(value);
    this.casts[this.params.length - 1] = cast;
    return cast ? `$${this.params.length}::${cast}` : `$${this.params.length}`;
  }

  /** A fresh table alias (x1, x2, …) so nested subqueries never capture each other's columns. */
  alias(prefix: string): string {
    this.aliasCount++;
    return `${prefix}${this.aliasCount}`;
  }
}

/**
 * A list of strings as a PostgreSQL array literal (for a `text[]` parameter), made once per list:
 * a caseload is kept with the access policy of a verified token, and pg would otherwise quote and
 * join its hundreds of ids again for every statement of every request.
 */
const literals = new WeakMap<string[], string>();
export function textArray(ids: string[]): string {
  let s = literals.get(ids);
  if (s === undefined) {
    s = `{${ids.map((id) => `"${id.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
    literals.set(ids, s);
  }
  return s;
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
