import { fail } from '../../kernel/outcome.ts';
import type { OrderKey } from './sort.ts';
import type { Sql } from './sql.ts';
import { or } from './sql.ts';

/**
 * Paging (https://hl7.org/fhir/R4/http.html#paging, search.html#count): keyset ("cursor")
 * paging on the full order (sort keys…, [type,] id) instead of OFFSET, so a next/previous link
 * keeps pointing at the same place while resources are added or deleted, and a deep page costs
 * no more than the first. The cursor is opaque to clients: base64url of JSON
 * {k: the boundary row's key values as text, d: 'n' (rows after it) | 'p' (rows before it)}.
 */
export interface Cursor {
  k: (string | null)[];
  d: 'n' | 'p';
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

const NUMERIC = /^-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$|^-?Infinity$|^NaN$/i;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([+-]\d{2}(:\d{2}){0,2})?$/;

/** Decodes and validates a cursor against the current order, so a tampered cursor is a 400, never a SQL error. */
export function decodeCursor(raw: string, keys: OrderKey[]): Cursor {
  const bad = (): never => fail('invalid', 'Invalid paging cursor: the link may be from a different search', '_cursor');
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return bad();
  }
  if (!c || typeof c !== 'object') return bad();
  const { k, d } = c as Cursor;
  if ((d !== 'n' && d !== 'p') || !Array.isArray(k) || k.length !== keys.length) return bad();
  k.forEach((v, i) => {
    const key = keys[i];
    if (v === null) {
      if (!key.nullable) bad();
      return;
    }
    if (typeof v !== 'string' || v.length > 4096 || !validValue(v, key.cast)) bad();
  });
  return { k, d };
}

function validValue(v: string, cast: OrderKey['cast']): boolean {
  if (cast === 'numeric') return NUMERIC.test(v);
  if (cast === 'timestamptz') {
    if (v === 'infinity' || v === '-infinity') return true;
    const m = TIMESTAMP.exec(v);
    if (!m) return false;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
    const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  }
  return !v.includes('\u0000');
}

/**
 * Rows strictly after (forward) or before (backward) the cursor row in the order `refs`.
 * Lexicographic over the keys; missing values (NULL) sort last in both directions.
 * The first key gets a redundant range bound (e.g. last_updated <= $v) so an index on it can
 * start at the cursor instead of filtering from the top.
 */
export function keysetCondition(q: Sql, refs: string[], keys: OrderKey[], cursor: Cursor, backward: boolean): string {
  const vals = cursor.k.map((v, i) => (v === null ? null : q.p(v, keys[i].cast)));
  const step = (i: number): string => {
    if (i === keys.length) return 'FALSE';
    const k = refs[i];
    const key = keys[i];
    const v = vals[i];
    if (v === null) {
      // Cursor row has no value: only rows without a value follow it; every row with one precedes it.
      return backward ? or([`${k} IS NOT NULL`, `(${k} IS NULL AND (${step(i + 1)}))`]) : `${k} IS NULL AND (${step(i + 1)})`;
    }
    const later = key.descending !== backward ? `${k} < ${v}` : `${k} > ${v}`;
    const strictly = !backward && key.nullable ? `(${later} OR ${k} IS NULL)` : later;
    const rest = step(i + 1);
    return rest === 'FALSE' ? strictly : `${strictly} OR (${k} = ${v} AND (${rest}))`;
  };
  const cond = step(0);
  const v0 = vals[0];
  if (v0 !== null && !keys[0].nullable) {
    const bound = keys[0].descending !== backward ? `${refs[0]} <= ${v0}` : `${refs[0]} >= ${v0}`;
    return `${bound} AND (${cond})`;
  }
  return cond;
}

/** ORDER BY for the keys, reversed for a backward page. */
export function orderBy(refs: string[], keys: OrderKey[], backward: boolean): string {
  return keys
    .map((k, i) => {
      const desc = k.descending !== backward;
      // NULLS LAST in the forward direction; non-null keys keep the default so indexes match.
      const nulls = k.nullable ? (backward ? ' NULLS FIRST' : ' NULLS LAST') : '';
      return `${refs[i]}${desc ? ' DESC' : ''}${nulls}`;
    })
    .join(', ');
}

/** An absolute search URL under the FHIR base with the given query pairs. */
export function searchUrl(fhirBase: string, resourceType: string | undefined, pairs: [string, string][]): string {
  const qs = new URLSearchParams(pairs).toString();
  const path = resourceType ? `${fhirBase}/${resourceType}` : fhirBase;
  return qs ? `${path}?${qs}` : path;
}
