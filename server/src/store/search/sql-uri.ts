import type { Sql } from './sql.ts';
import { type KeyColumns, keyEquals, keyEqualsAny, keyStartsWith } from './sql-key.ts';
import type { UriValue } from './types.ts';

/**
 * URI matching on idx_uri rows (https://hl7.org/fhir/R4/search.html#uri):
 *   default  the whole URI, exactly
 *   :below   the stored URI starts with the given one (value LIKE 'given%', index-served)
 *   :above   the stored URI is the given one or one of its path ancestors: we enumerate the
 *            ancestors at each '/' of the given URI and look them up by equality, so the
 *            index serves this too.
 * `value` holds a long URI's first characters and `value_full` the whole of it (sql-key.ts).
 */
export function uriCondition(q: Sql, x: string, v: UriValue, modifier: string | undefined): string {
  const c: KeyColumns = { key: `${x}.value`, full: `${x}.value_full` };
  if (modifier === 'below') return keyStartsWith(q, c, v.value);
  if (modifier === 'above') return keyEqualsAny(q, c, ancestors(v.value));
  return keyEquals(q, c, v.value);
}

export function ancestors(uri: string): string[] {
  const out = [uri];
  const start = uri.indexOf('://') >= 0 ? uri.indexOf('://') + 3 : 0;
  for (let i = uri.length - 1; i > start; i--) {
    if (uri[i] === '/') {
      out.push(uri.slice(0, i));
      out.push(uri.slice(0, i + 1));
    }
  }
  return [...new Set(out)];
}
