import { pgInstant } from './parse-value.ts';
import type { Sql } from './sql.ts';
import { or } from './sql.ts';
import type { DateValue, Prefix } from './types.ts';

/**
 * Date search as range comparison (https://hl7.org/fhir/R4/search.html#prefix, #date).
 * Both sides are half-open instant ranges: the search value [sl, sh) from its precision
 * ("2020" = all of 2020), the resource value [low, high) from its own precision or Period.
 * The R4 prefix table, second column ("range" semantics), read with half-open ranges:
 *
 *   eq  search range fully contains target range      low >= sl AND high <= sh
 *   ne  … does not fully contain it                    low <  sl OR  high >  sh
 *   gt  range above the search value overlaps target   high > sh
 *   lt  range below the search value overlaps target   low  < sl
 *   ge  gt OR eq                                        low >= sl OR  high >  sh
 *   le  lt OR eq                                        high <= sh OR low  <  sl
 *   sa  no overlap, target lies in the range above     low  >= sh
 *   eb  no overlap, target lies in the range below     high <= sl
 *   ap  target overlaps the search range widened by 10% of the distance from now (see approx())
 *
 * ge: "gt OR eq" = (high > sh) OR (low >= sl AND high <= sh); since low < high this simplifies
 * to (low >= sl) OR (high > sh): if low >= sl then either high <= sh (eq) or high > sh (gt).
 * Note the table is stricter than "overlaps the range from sl on": a Period that starts before
 * 2020 and ends inside it does NOT match ge2020 (it neither lies inside 2020 nor extends past it).
 */
export function dateCondition(q: Sql, low: string, high: string, v: DateValue, now = Date.now()): string {
  const sl = (): string => q.p(v.low, 'timestamptz');
  const sh = (): string => q.p(v.high, 'timestamptz');
  switch (v.prefix) {
    case 'eq':
      return `${low} >= ${sl()} AND ${high} <= ${sh()}`;
    case 'ne':
      return or([`${low} < ${sl()}`, `${high} > ${sh()}`]);
    case 'gt':
      return `${high} > ${sh()}`;
    case 'lt':
      return `${low} < ${sl()}`;
    case 'ge':
      return or([`${low} >= ${sl()}`, `${high} > ${sh()}`]);
    case 'le':
      return or([`${high} <= ${sh()}`, `${low} < ${sl()}`]);
    case 'sa':
      return `${low} >= ${sh()}`;
    case 'eb':
      return `${high} <= ${sl()}`;
    case 'ap': {
      const w = approx(v, now);
      return `${low} < ${q.p(w.high, 'timestamptz')} AND ${high} > ${q.p(w.low, 'timestamptz')}`;
    }
  }
}

/**
 * The same table for a single instant t (the resource row's last_updated, `_lastUpdated`),
 * read as the tiny range [t, t+ε): every condition then becomes one comparison on the indexed
 * column, e.g. gt: t+ε > sh ⇔ t >= sh; ge: t >= sl OR t >= sh ⇔ t >= sl.
 */
export function instantCondition(q: Sql, t: string, v: DateValue, now = Date.now()): string {
  const sl = (): string => q.p(v.low, 'timestamptz');
  const sh = (): string => q.p(v.high, 'timestamptz');
  const cond: Record<Prefix, () => string> = {
    eq: () => `${t} >= ${sl()} AND ${t} < ${sh()}`,
    ne: () => `(${t} < ${sl()} OR ${t} >= ${sh()})`,
    gt: () => `${t} >= ${sh()}`,
    lt: () => `${t} < ${sl()}`,
    ge: () => `${t} >= ${sl()}`,
    le: () => `${t} < ${sh()}`,
    sa: () => `${t} >= ${sh()}`,
    eb: () => `${t} < ${sl()}`,
    ap: () => {
      const w = approx(v, now);
      return `${t} >= ${q.p(w.low, 'timestamptz')} AND ${t} < ${q.p(w.high, 'timestamptz')}`;
    },
  };
  return cond[v.prefix]();
}

/**
 * `ap` for dates: R4 recommends "10% of the gap between now and the date". Our choice: widen the
 * search range on both sides by 10% of the distance from now to the nearer edge of the search
 * range (zero when the range contains now, so `ap` on today is just today's range).
 */
export function approx(v: { low: string; high: string }, now: number): { low: string; high: string } {
  const lo = Date.parse(v.low);
  const hi = Date.parse(v.high);
  const gap = now < lo ? lo - now : now >= hi ? now - hi : 0;
  if (Number.isNaN(lo) || Number.isNaN(hi)) return v; // ±infinity bounds stay as they are
  const pad = Math.round(gap * 0.1);
  const iso = (t: number): string => (Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? pgInstant(new Date(t).toISOString()) : t < 0 ? '-infinity' : 'infinity');
  return { low: iso(lo - pad), high: iso(hi + pad) };
}
