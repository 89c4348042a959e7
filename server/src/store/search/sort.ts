import { TABLE } from './compiled.ts';
import type { Sql } from './sql.ts';
import { wholeValue } from './sql-key.ts';
import type { SortKey } from './types.ts';

/**
 * _sort (https://hl7.org/fhir/R4/search.html#sort) as SQL order keys over resource alias `a`.
 * A parameter with several values sorts by its lowest value ascending and its highest value
 * descending (min/max of the index rows; for dates the range's low ascending and high
 * descending); resources without a value sort last either way. The id (and type, when several
 * types are searched) always closes the order so that it is total and keyset paging is exact.
 */
export interface OrderKey {
  /** SQL expression over the resource alias. */
  expr: string;
  cast: 'text' | 'numeric' | 'timestamptz';
  descending: boolean;
  nullable: boolean;
  /** True for a per-row subquery (needs the optimization fence in query.ts). */
  computed: boolean;
}

export function orderKeys(q: Sql, sort: SortKey[], a: string, multiType: boolean, audit = false): OrderKey[] {
  const keys = sort.map((k) => (audit && k.param.code === 'date' ? auditDateKey(k, a) : sortKey(q, k, a)));
  if (multiType) keys.push({ expr: `${a}.type`, cast: 'text', descending: false, nullable: false, computed: false });
  keys.push({ expr: `${a}.id`, cast: 'text', descending: false, nullable: false, computed: false });
  return keys;
}

/**
 * AuditEvent's `date` is its row's `recorded` (../audit-table.ts), one instant per event: ordered
 * by its start both ways (the generic rule takes the range's end descending; for an instant the
 * two orders agree up to its precision), so the (tenant, recorded) index serves either direction.
 */
function auditDateKey(k: SortKey, a: string): OrderKey {
  return { expr: `${a}.recorded`, cast: 'timestamptz', descending: k.descending, nullable: false, computed: false };
}

function sortKey(q: Sql, k: SortKey, a: string): OrderKey {
  const descending = k.descending;
  if (k.param.code === '_id') return { expr: `${a}.id`, cast: 'text', descending, nullable: false, computed: false };
  if (k.param.code === '_lastUpdated') {
    return { expr: `${a}.last_updated`, cast: 'timestamptz', descending, nullable: false, computed: false };
  }
  const agg = descending ? 'max' : 'min';
  const x = q.alias('o');
  let col: string;
  let cast: OrderKey['cast'] = 'text';
  switch (k.param.type) {
    case 'string':
      col = wholeValue({ key: `${x}.norm`, full: `${x}.norm_full` });
      break;
    case 'token':
      col = wholeValue({ key: `${x}.code`, full: `${x}.code_full` });
      break;
    case 'date':
      col = descending ? `${x}.high` : `${x}.low`;
      cast = 'timestamptz';
      break;
    case 'number':
    case 'quantity':
      col = descending ? `${x}.high` : `${x}.low`;
      cast = 'numeric';
      break;
    case 'reference':
      col = `coalesce(${x}.target_type || '/' || ${x}.target_id, ${wholeValue({ key: `${x}.url`, full: `${x}.url_full` })})`;
      break;
    default:
      col = wholeValue({ key: `${x}.value`, full: `${x}.value_full` });
  }
  const expr = `(SELECT ${agg}(${col}) FROM ${TABLE[k.param.type]} ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${a}.type AND ${x}.rid = ${a}.id AND ${x}.param = ${q.p(k.param.code)})`;
  return { expr, cast, descending, nullable: true, computed: true };
}
