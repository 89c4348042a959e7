import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, keysetCondition, orderBy } from './paging.ts';
import type { OrderKey } from './sort.ts';
import { Sql } from './sql.ts';
import { approx } from './sql-date.ts';

const date: OrderKey = { expr: 'k0', cast: 'timestamptz', descending: true, nullable: true, computed: true };
const id: OrderKey = { expr: 'id', cast: 'text', descending: false, nullable: false, computed: false };

describe('cursor', () => {
  it('round-trips and validates against the order', () => {
    const c = { k: ['2020-01-01 00:00:00+00', 'abc'], d: 'n' as const };
    expect(decodeCursor(encodeCursor(c), [date, id])).toEqual(c);
    expect(decodeCursor(encodeCursor({ k: [null, 'abc'], d: 'p' }), [date, id]).k[0]).toBeNull();
    const bad = (raw: string) => {
      try {
        decodeCursor(raw, [date, id]);
      } catch (e) {
        return e instanceof OperationOutcomeError && e.outcome.id === 'invalid';
      }
      return false;
    };
    expect(bad('!!')).toBe(true);
    expect(bad(encodeCursor({ k: ['x'], d: 'n' }))).toBe(true); // wrong arity
    expect(bad(encodeCursor({ k: ['2020-02-30 00:00:00+00', 'a'], d: 'n' }))).toBe(true); // no such day
    expect(bad(encodeCursor({ k: ["1'; drop", 'a'], d: 'n' }))).toBe(true);
    expect(bad(encodeCursor({ k: ['2020-01-01 00:00:00+00', null], d: 'n' }))).toBe(true); // id is never null
  });
});

describe('keyset condition', () => {
  it('orders lexicographically with NULLs last, and reverses for previous pages', () => {
    const q = new Sql('t');
    const fwd = keysetCondition(q, ['s.k0', 's.id'], [date, id], { k: ['2020-01-01 00:00:00+00', 'm'], d: 'n' }, false);
    // After (2020, 'm') in "date DESC NULLS LAST, id": earlier dates, or no date, or same date and a later id.
    expect(fwd).toBe('(s.k0 < $2::timestamptz OR s.k0 IS NULL) OR (s.k0 = $2::timestamptz AND (s.id > $3::text))');
    const back = keysetCondition(q, ['s.k0', 's.id'], [date, id], { k: [null, 'm'], d: 'p' }, true);
    // Before (NULL, 'm'): every row with a date, or no date and an earlier id.
    expect(back).toBe('(s.k0 IS NOT NULL) OR ((s.k0 IS NULL AND (s.id < $4::text)))');
    expect(orderBy(['s.k0', 's.id'], [date, id], false)).toBe('s.k0 DESC NULLS LAST, s.id');
    expect(orderBy(['s.k0', 's.id'], [date, id], true)).toBe('s.k0 NULLS FIRST, s.id DESC');
  });
  it('adds an index-friendly bound on a non-null leading key', () => {
    const lu: OrderKey = { expr: 'r.last_updated', cast: 'timestamptz', descending: true, nullable: false, computed: false };
    const q = new Sql('t');
    expect(keysetCondition(q, ['s.k0', 's.k1'], [lu, id], { k: ['2020-01-01 00:00:00+00', 'x'], d: 'n' }, false)).toBe(
      's.k0 <= $2::timestamptz AND (s.k0 < $2::timestamptz OR (s.k0 = $2::timestamptz AND (s.k1 > $3::text)))'
    );
  });
});

describe('ap for dates', () => {
  it('widens by 10% of the distance from now to the search range', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    // 2020 is [2020-01-01, 2021-01-01); now is 9 years after its end → ±0.9 years.
    const w = approx({ low: '2020-01-01T00:00:00.000Z', high: '2021-01-01T00:00:00.000Z' }, now);
    const ninth = (now - Date.parse('2021-01-01T00:00:00Z')) * 0.1;
    expect(Date.parse(w.low)).toBe(Date.parse('2020-01-01T00:00:00Z') - Math.round(ninth));
    expect(Date.parse(w.high)).toBe(Date.parse('2021-01-01T00:00:00Z') + Math.round(ninth));
    // A range containing now is not widened.
    expect(approx({ low: '2029-01-01T00:00:00.000Z', high: '2031-01-01T00:00:00.000Z' }, now)).toEqual({ low: '2029-01-01T00:00:00.000Z', high: '2031-01-01T00:00:00.000Z' });
  });
});
