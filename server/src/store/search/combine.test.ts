import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, searchParam } from '../../kernel/definitions.ts';
import { combineRanges, singleValued } from './combine.ts';
import { parseSearch } from './parse.ts';
import type { ParamFilter } from './types.ts';

beforeAll(() => loadDefinitions());
const filters = (type: string, query: string) =>
  combineRanges(parseSearch(type, [...new URLSearchParams(query)] as [string, string][], { lenient: false, fhirBase: 'http://x', defaultCount: 20, maxCount: 100 }).filters, [type]) as ParamFilter[];

describe('combining repeated range parameters (R4 search.html#combining)', () => {
  it('knows which parameters hold at most one value per resource', () => {
    expect(singleValued(searchParam('Patient', 'birthdate')!)).toBe(true);
    expect(singleValued(searchParam('Encounter', 'date')!)).toBe(true); // one Period
    expect(singleValued(searchParam('Observation', 'date')!)).toBe(false); // effective[x] may be a Timing: many events
    expect(singleValued(searchParam('Patient', 'family')!)).toBe(false);
    expect(singleValued(searchParam('Observation', 'component-value-quantity')!)).toBe(false);
  });
  it('merges bounds of a single-valued parameter onto one row, nothing else', () => {
    const f = filters('Patient', 'birthdate=ge1990&birthdate=lt2000&family=a&family=b');
    expect(f.map((x) => [x.param.code, x.values.length, Boolean(x.allOf)])).toEqual([
      ['birthdate', 2, true],
      ['family', 1, false],
      ['family', 1, false],
    ]);
    // A comma list is an OR and stays a filter of its own.
    expect(filters('Patient', 'birthdate=ge1990&birthdate=1970,1980')).toHaveLength(2);
    expect(filters('Observation', 'date=ge2020&date=lt2021')).toHaveLength(2);
  });
});
