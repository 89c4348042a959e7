/**
 * Index keys for values of any length. A btree entry must fit in a third of a page (2,704 bytes
 * on PostgreSQL), and FHIR strings may be a megabyte, so the columns the value indexes hold
 * (idx_string.norm, idx_token.code and .system, idx_uri.value, idx_reference.url) store at most
 * KEY_CHARS characters; a longer value keeps its first KEY_CHARS characters there and the whole
 * of it in the companion `*_full` column (NULL otherwise). Migration 016 made existing rows so.
 *
 * Characters are code points, as PostgreSQL's left() and length() count them, so keys made here
 * and in SQL agree. A stored key shorter than KEY_CHARS is always the whole value: an equality on
 * a shorter search value needs the key column alone (index-only), a longer one re-checks the
 * whole value (search/sql-key.ts).
 */
export const KEY_CHARS = 200;

/** The first KEY_CHARS code points of v, and whether that cut anything off. */
export function keyPrefix(v: string): { key: string; cut: boolean } {
  if (v.length <= KEY_CHARS) return { key: v, cut: false }; // UTF-16 units ≥ code points
  let i = 0;
  for (let n = 0; n < KEY_CHARS && i < v.length; n++) {
    const c = v.codePointAt(i) as number;
    i += c > 0xffff ? 2 : 1;
  }
  return i >= v.length ? { key: v, cut: false } : { key: v.slice(0, i), cut: true };
}

/** The number of code points in v, counting no further than `limit`. */
export function codePointsUpTo(v: string, limit: number): number {
  if (v.length <= limit) return [...v].length;
  let n = 0;
  for (let i = 0; i < v.length && n <= limit; n++) i += (v.codePointAt(i) as number) > 0xffff ? 2 : 1;
  return n;
}

/** [key column value, full column value] for storing v. */
export function keyColumns(v: string | null): [string | null, string | null] {
  if (v === null) return [null, null];
  const { key, cut } = keyPrefix(v);
  return [key, cut ? v : null];
}
