import { KEY_CHARS, codePointsUpTo, keyPrefix } from '../index-key.ts';
import { escapeLike } from './escape.ts';
import type { Sql } from './sql.ts';
import { or } from './sql.ts';

/**
 * Comparisons on a value stored as a bounded key column and a `*_full` column holding the whole
 * value when it is longer than the key (../index-key.ts). Search values shorter than the key
 * compare on the key column alone, so the value indexes serve them as before (index-only scans);
 * longer ones narrow by the key through the index and re-check the whole value.
 */
export interface KeyColumns {
  key: string;
  full: string;
}

/** The whole stored value, for comparisons no index serves (:contains, sort). */
export function wholeValue(c: KeyColumns): string {
  return `coalesce(${c.full}, ${c.key})`;
}

function fitsKey(v: string): boolean {
  return codePointsUpTo(v, KEY_CHARS) < KEY_CHARS;
}

export function keyEquals(q: Sql, c: KeyColumns, v: string): string {
  if (fitsKey(v)) return `${c.key} = ${q.p(v)}`;
  return `${c.key} = ${q.p(keyPrefix(v).key)} AND ${wholeValue(c)} = ${q.p(v)}`;
}

/** Equality with any of the values: the short ones in one `= ANY`, each long one on its own. */
export function keyEqualsAny(q: Sql, c: KeyColumns, values: string[]): string {
  const short = values.filter(fitsKey);
  const conds = values.filter((v) => !fitsKey(v)).map((v) => keyEquals(q, c, v));
  if (short.length === 1) conds.unshift(`${c.key} = ${q.p(short[0])}`);
  else if (short.length > 1) conds.unshift(`${c.key} = ANY(${q.p(short, 'text[]')})`);
  return or(conds);
}

/** The stored value starts with p (a LIKE prefix range, which text_pattern_ops indexes serve). */
export function keyStartsWith(q: Sql, c: KeyColumns, p: string): string {
  const { key, cut } = keyPrefix(p);
  if (!cut) return `${c.key} LIKE ${q.p(escapeLike(p) + '%')}`;
  return `${c.key} = ${q.p(key)} AND ${c.full} LIKE ${q.p(escapeLike(p) + '%')}`;
}

export function keyContains(q: Sql, c: KeyColumns, p: string): string {
  return `${wholeValue(c)} LIKE ${q.p('%' + escapeLike(p) + '%')}`;
}
