import { escapeLike } from './escape.ts';
import type { Sql } from './sql.ts';
import { or } from './sql.ts';
import { type KeyColumns, keyEquals, keyEqualsAny } from './sql-key.ts';
import type { TextValue, TokenValue } from './types.ts';

/**
 * Token matching on idx_token rows (system, code, text) — https://hl7.org/fhir/R4/search.html#token:
 *   code          any system                   x.code = c
 *   system|code   that system                  x.system = s AND x.code = c
 *   |code         no system                    x.system IS NULL AND x.code = c
 *   system|       any code in that system      x.system = s
 * Codes are compared exactly (case-sensitive): R4 leaves case to the code system, and exact
 * comparison is what the (tenant, rtype, param, code, system) index serves.
 * Plain codes of one OR-list are folded into a single `code = ANY(...)`. `code` and `system` hold
 * a long value's first characters and `code_full` / `system_full` the whole of it (sql-key.ts).
 */
export function tokenConditions(q: Sql, x: string, values: (TokenValue | TextValue)[]): string {
  const plain: string[] = [];
  const conds: string[] = [];
  for (const v of values) {
    if (v.kind === 'text') conds.push(textCondition(q, x, v));
    else if (v.system === undefined && v.code !== undefined) plain.push(v.code);
    else conds.push(tokenCondition(q, x, v));
  }
  if (plain.length) conds.unshift(keyEqualsAny(q, codeOf(x), plain));
  return or(conds);
}

export function tokenCondition(q: Sql, x: string, v: TokenValue): string {
  const parts: string[] = [];
  if (v.code !== undefined) parts.push(keyEquals(q, codeOf(x), v.code));
  if (v.system === null) parts.push(`${x}.system IS NULL`);
  else if (v.system !== undefined) parts.push(keyEquals(q, { key: `${x}.system`, full: `${x}.system_full` }, v.system));
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

function codeOf(x: string): KeyColumns {
  return { key: `${x}.code`, full: `${x}.code_full` };
}

/**
 * :text — "a string search against the text associated with the code" (Coding.display,
 * CodeableConcept.text, Identifier.type.text; stored normalized). Like string search it matches
 * at the start, here of the whole text or of any word in it ("pressure" finds "Blood pressure").
 */
function textCondition(q: Sql, x: string, v: TextValue): string {
  const t = escapeLike(v.text);
  return `(${x}.text LIKE ${q.p(t + '%')} OR ${x}.text LIKE ${q.p('% ' + t + '%')})`;
}
