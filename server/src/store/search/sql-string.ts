import { escapeLike } from './escape.ts';
import type { Sql } from './sql.ts';
import type { StringValue } from './types.ts';

/**
 * String matching on idx_string rows (https://hl7.org/fhir/R4/search.html#string):
 *   default    case- and accent-insensitive "starts with": norm LIKE 'value%'
 *              (served by the text_pattern_ops index on norm)
 *   :contains  case- and accent-insensitive anywhere:   norm LIKE '%value%'
 *   :exact     case- and accent-sensitive whole value:  exact = value (norm narrows via the index)
 */
export function stringCondition(q: Sql, x: string, v: StringValue, modifier: string | undefined): string {
  if (modifier === 'exact') return `${x}.norm = ${q.p(v.norm)} AND ${x}.exact = ${q.p(v.exact)}`;
  if (modifier === 'contains') return `${x}.norm LIKE ${q.p('%' + escapeLike(v.norm) + '%')}`;
  return `${x}.norm LIKE ${q.p(escapeLike(v.norm) + '%')}`;
}
