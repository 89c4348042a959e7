import { canonical } from '../ucum.ts';
import type { Sql } from './sql.ts';
import { and, or } from './sql.ts';
import type { NumberValue, Prefix, QuantityValue } from './types.ts';

/**
 * Number and quantity comparison (https://hl7.org/fhir/R4/search.html#number, #quantity, #prefix).
 * Rows hold [low, high]: one value (low = high) or a Range whose missing bound is unbounded (NULL).
 * The search value v has an implicit precision [v - half, v + half):
 *   eq  precision range contains the target           low >= v-half AND high < v+half
 *   ne  not eq
 *   gt / lt / ge / le compare against v exactly; R4: "gt100 — values greater than exactly 100"
 *       (for a Range: some part of it lies above/below v)
 *   sa  the whole target lies after v:  low > v;  eb  the whole target lies before v: high < v
 *   ap  target overlaps v ± max(10% of |v|, half)  (R4 recommends 10%)
 * `lo`/`hi` are the SQL bounds of the search value, already in the row's unit.
 */
interface Bounds {
  v: () => string;
  lo: () => string;
  hi: () => string;
  apLo: () => string;
  apHi: () => string;
}

function compare(low: string, high: string, prefix: Prefix, b: Bounds): string {
  switch (prefix) {
    case 'eq':
      return `${low} >= ${b.lo()} AND ${high} < ${b.hi()}`;
    case 'ne':
      return or([`${low} IS NULL`, `${high} IS NULL`, `${low} < ${b.lo()}`, `${high} >= ${b.hi()}`]);
    case 'gt':
      return or([`${high} > ${b.v()}`, `${high} IS NULL`]);
    case 'lt':
      return or([`${low} < ${b.v()}`, `${low} IS NULL`]);
    case 'ge':
      return or([`${high} >= ${b.v()}`, `${high} IS NULL`]);
    case 'le':
      return or([`${low} <= ${b.v()}`, `${low} IS NULL`]);
    case 'sa':
      return `${low} > ${b.v()}`;
    case 'eb':
      return `${high} < ${b.v()}`;
    case 'ap':
      return and([or([`${low} <= ${b.apHi()}`, `${low} IS NULL`]), or([`${high} >= ${b.apLo()}`, `${high} IS NULL`])]);
  }
}

/**
 * Exact decimal bounds computed by PostgreSQL numeric arithmetic from the value's text.
 * Bound lazily: a parameter that the SQL does not use would make PostgreSQL reject the statement.
 */
function exactBounds(q: Sql, value: string, half: string): Bounds {
  const v = (): string => q.p(value, 'numeric');
  const h = (): string => q.p(half, 'numeric');
  return {
    v,
    lo: () => `(${v()} - ${h()})`,
    hi: () => `(${v()} + ${h()})`,
    apLo: () => `(${v()} - greatest(abs(${v()}) * 0.1, ${h()}))`,
    apHi: () => `(${v()} + greatest(abs(${v()}) * 0.1, ${h()}))`,
  };
}

export function numberCondition(q: Sql, x: string, n: NumberValue): string {
  return compare(`${x}.low`, `${x}.high`, n.prefix, exactBounds(q, n.value, n.half));
}

/**
 * Quantity: with a UCUM unit we know (ucum.ts), compare in canonical units on canon_* so that
 * 1 g finds 1000 mg. The indexer multiplies in JavaScript doubles; we do the same here so that a
 * value compared with itself lands on exactly the same number. Otherwise: system + code must
 * match as written; `5.4||mg` matches code or unit; no unit compares the value alone.
 */
export function quantityCondition(q: Sql, x: string, n: QuantityValue): string {
  if (n.code !== undefined && n.system) {
    const canon = canonical(n.system, n.code);
    if (canon) {
      const [unit, f] = canon;
      const v = Number(n.value);
      const half = Number(n.half);
      const ap = Math.max(Math.abs(v) * 0.1, half);
      const num = (d: number) => (): string => q.p(String(d), 'numeric');
      const b: Bounds = { v: num(v * f), lo: num((v - half) * f), hi: num((v + half) * f), apLo: num((v - ap) * f), apHi: num((v + ap) * f) };
      return and([`${x}.canon_code = ${q.p(unit)}`, compare(`${x}.canon_low`, `${x}.canon_high`, n.prefix, b)]);
    }
  }
  const value = compare(`${x}.low`, `${x}.high`, n.prefix, exactBounds(q, n.value, n.half));
  if (n.code === undefined) return value;
  if (!n.system) {
    const c = q.p(n.code);
    return and([`(${x}.code = ${c} OR ${x}.unit = ${c})`, value]);
  }
  return and([`${x}.system = ${q.p(n.system)}`, `${x}.code = ${q.p(n.code)}`, value]);
}
