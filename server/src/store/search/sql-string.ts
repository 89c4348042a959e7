import type { Sql } from './sql.ts';
import { type KeyColumns, keyContains, keyEquals, keyStartsWith } from './sql-key.ts';
import type { StringValue } from './types.ts';

/**
 * String matching on idx_string rows (https://hl7.org/fhir/R4/search.html#string); `norm` holds
 * the normalized value's first characters and `norm_full` the rest of a long one (sql-key.ts):
 *   default    case- and accent-insensitive "starts with": norm LIKE 'value%'
 *              (served by the text_pattern_ops index on norm)
 *   :contains  case- and accent-insensitive anywhere:   whole norm LIKE '%value%'
 *   :exact     case- and accent-sensitive whole value:  exact = value (norm narrows via the index)
 */
export function stringCondition(q: Sql, x: string, v: StringValue, modifier: string | undefined): string {
  const norm: KeyColumns = { key: `${x}.norm`, full: `${x}.norm_full` };
  if (modifier === 'exact') return `${keyEquals(q, norm, v.norm)} AND ${x}.exact = ${q.p(v.exact)}`;
  if (modifier === 'contains') return keyContains(q, norm, v.norm);
  return keyStartsWith(q, norm, v.norm);
}
