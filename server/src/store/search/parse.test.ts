import { OperationOutcomeError } from '@medplum/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../kernel/definitions.ts';
import { splitEscaped, unescape } from './escape.ts';
import { parseSearch } from './parse.ts';
import { parseNumber, parseToken } from './parse-value.ts';
import type { ChainFilter, HasFilter, ParamFilter } from './types.ts';

const OPTS = { lenient: false, fhirBase: 'http://x/fhir', defaultCount: 20, maxCount: 100 };
const parse = (type: string | undefined, query: string, lenient = false) =>
  parseSearch(type, [...new URLSearchParams(query)] as [string, string][], { ...OPTS, lenient });

function rejected(fn: () => unknown): { kind?: string; text?: string; expression?: string[] } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { kind: err.outcome.id, text: err.outcome.issue?.[0]?.diagnostics, expression: err.outcome.issue?.[0]?.expression };
  }
  throw new Error('expected a rejection');
}

beforeAll(() => loadDefinitions());

describe('escaping (R4 search.html#escaping)', () => {
  it('splits on unescaped separators only and unescapes atoms last', () => {
    expect(splitEscaped('a,b\\,c,d', ',')).toEqual(['a', 'b\\,c', 'd']);
    expect(splitEscaped('http://s|a\\|b', '|')).toEqual(['http://s', 'a\\|b']);
    expect(unescape('a\\|b\\,c\\$d\\\\e')).toEqual('a|b,c$d\\e');
  });
});

describe('token values', () => {
  it('reads the four token forms', () => {
    expect(parseToken('1234')).toEqual({ kind: 'token', code: '1234' });
    expect(parseToken('http://loinc.org|1234')).toEqual({ kind: 'token', system: 'http://loinc.org', code: '1234' });
    // `|code`: the value must have no system at all.
    expect(parseToken('|1234')).toEqual({ kind: 'token', system: null, code: '1234' });
    // `system|`: any code in that system.
    expect(parseToken('http://loinc.org|')).toEqual({ kind: 'token', system: 'http://loinc.org', code: undefined });
  });
});

describe('number precision (R4 search.html#number)', () => {
  it('derives the implicit range from significant figures', () => {
    // "100" → 3 significant figures → [99.5, 100.5): half-width 0.5
    expect(parseNumber('100', 'n')).toEqual({ prefix: 'eq', value: '100', half: '5e-1' });
    // "1e2" → 1 significant figure → [50, 150): half-width 50
    expect(parseNumber('1e2', 'n').half).toBe('5e1');
    // "100.0" → ±0.05; "5.4" → ±0.05; "0.001" → ±0.0005
    expect(parseNumber('100.0', 'n').half).toBe('5e-2');
    expect(parseNumber('5.4', 'n').half).toBe('5e-2');
    expect(parseNumber('0.001', 'n').half).toBe('5e-4');
    expect(parseNumber('gt-3.5', 'n')).toEqual({ prefix: 'gt', value: '-3.5', half: '5e-2' });
  });
  it('rejects what is not a number, naming the parameter', () => {
    expect(rejected(() => parseNumber('ten', 'probability'))).toMatchObject({ kind: 'invalid', expression: ['probability'] });
    expect(rejected(() => parseNumber('1e', 'n')).kind).toBe('invalid');
  });
});

describe('parseSearch', () => {
  it('ANDs repetitions and ORs commas', () => {
    const p = parse('Patient', 'given=a,b&given=c');
    expect(p.filters).toHaveLength(2);
    expect((p.filters[0] as ParamFilter).values).toHaveLength(2);
  });

  it('reads modifiers and :missing', () => {
    const p = parse('Patient', 'name:exact=Eve&gender:missing=true&identifier:of-type=http://t|MR|1');
    expect((p.filters[0] as ParamFilter).modifier).toBe('exact');
    expect((p.filters[1] as ParamFilter).missing).toBe(true);
    expect((p.filters[2] as ParamFilter).values[0]).toEqual({ kind: 'token', system: 'http://t', code: 'MR|1' });
  });

  it('reads reference forms', () => {
    const p = parse('Observation', 'subject=Patient/1&subject=2&subject=http://x/fhir/Patient/3&subject=http://other/Patient/4&subject:Patient=5');
    expect(p.filters.map((f) => (f as ParamFilter).values[0])).toEqual([
      { kind: 'reference', type: 'Patient', id: '1' },
      { kind: 'reference', id: '2' },
      { kind: 'reference', type: 'Patient', id: '3' }, // under our base: local
      { kind: 'reference', url: 'http://other/Patient/4' },
      { kind: 'reference', type: 'Patient', id: '5' },
    ]);
  });

  it('reads composite values component by component', () => {
    const f = parse('Observation', 'code-value-quantity=http://loinc.org|8480-6$gt100').filters[0] as ParamFilter;
    expect(f.values[0]).toMatchObject({
      kind: 'composite',
      parts: [
        { kind: 'token', system: 'http://loinc.org', code: '8480-6' },
        { kind: 'quantity', prefix: 'gt', value: '100' },
      ],
    });
    expect(rejected(() => parse('Observation', 'code-value-quantity=8480-6')).kind).toBe('invalid');
  });

  it('reads chains against every target that has the next parameter', () => {
    const c = parse('Observation', 'subject.name=smith').filters[0] as ChainFilter;
    expect(c.kind).toBe('chain');
    // Observation.subject → Group | Device | Patient | Location; in R4 neither Group nor Device
    // has a `name` search parameter, so the chain runs over Location and Patient.
    expect(c.targets.map((t) => t.type).sort()).toEqual(['Location', 'Patient']);
    const typed = parse('Observation', 'subject:Patient.name=smith').filters[0] as ChainFilter;
    expect(typed.targets.map((t) => t.type)).toEqual(['Patient']);
    const deep = parse('Observation', 'patient.organization.name=acme').filters[0] as ChainFilter;
    expect((deep.targets[0].filter as ChainFilter).targets[0].type).toBe('Organization');
  });

  it('reads nested _has', () => {
    const h = parse('Organization', '_has:Patient:organization:_has:Observation:patient:code=1234').filters[0] as HasFilter;
    expect(h).toMatchObject({ kind: 'has', type: 'Patient', refParam: 'organization' });
    expect(h.filter).toMatchObject({ kind: 'has', type: 'Observation', refParam: 'patient' });
    expect(rejected(() => parse('Patient', '_has:Observation:code:code=1')).kind).toBe('invalid');
    expect(rejected(() => parse('Patient', '_has:Observation:patient=1')).kind).toBe('invalid');
  });

  it('reads result parameters', () => {
    const p = parse('Observation', '_count=500&_sort=-date,code&_total=accurate&_summary=true&_include=Observation:patient&_revinclude:iterate=Provenance:target');
    expect(p.count).toBe(100); // capped at maxCount
    expect(p.sort.map((s) => [s.name, s.descending])).toEqual([
      ['date', true],
      ['code', false],
    ]);
    expect(p.total).toBe('accurate');
    expect(p.summary).toBe('true');
    expect(p.includes).toEqual([
      { reverse: false, iterate: false, sourceType: 'Observation', params: ['patient'], targetType: undefined, raw: 'Observation:patient' },
      { reverse: true, iterate: true, sourceType: 'Provenance', params: ['target'], targetType: undefined, raw: 'Provenance:target' },
    ]);
  });

  it('reads _type for a system search and requires parameters common to all listed types', () => {
    const p = parse(undefined, '_type=Patient,Practitioner&name=smith');
    expect(p.types).toEqual(['Patient', 'Practitioner']);
    expect(p.explicitTypes).toBe(true);
    expect(rejected(() => parse(undefined, '_type=Patient,Observation&name=smith')).kind).toBe('invalid');
    expect(rejected(() => parse('Patient', '_type=Patient')).kind).toBe('invalid');
  });

  it('rejects unknown parameters, modifiers and malformed values with a 400 naming the parameter', () => {
    expect(rejected(() => parse('Patient', 'foo=1'))).toEqual({ kind: 'invalid', text: "Unknown search parameter 'foo' for Patient", expression: ['foo'] });
    expect(rejected(() => parse('Patient', 'name:fuzzy=x'))).toMatchObject({ kind: 'invalid', expression: ['name:fuzzy'] });
    expect(rejected(() => parse('Patient', 'gender:in=http://vs'))).toMatchObject({ kind: 'not-supported', expression: ['gender:in'] });
    expect(rejected(() => parse('Patient', 'birthdate=1990-13-01'))).toMatchObject({ kind: 'invalid', expression: ['birthdate'] });
    expect(rejected(() => parse('Patient', 'birthdate=xx1990'))).toMatchObject({ kind: 'invalid' });
    expect(rejected(() => parse('Patient', 'gender:missing=maybe'))).toMatchObject({ kind: 'invalid' });
    expect(rejected(() => parse('Patient', '_count=-1'))).toMatchObject({ kind: 'invalid', expression: ['_count'] });
    expect(rejected(() => parse('Patient', '_sort=nope'))).toMatchObject({ kind: 'invalid', expression: ['_sort'] });
    expect(rejected(() => parse('Patient', '_include=Patient:name'))).toMatchObject({ kind: 'invalid' });
    expect(rejected(() => parse('Patient', 'name.family=x'))).toMatchObject({ kind: 'invalid' });
    expect(rejected(() => parse('Patient', '_text=x'))).toMatchObject({ kind: 'not-supported' });
    expect(rejected(() => parse('Patient', '_id:not=x'))).toMatchObject({ kind: 'invalid' });
    expect(rejected(() => parse('Nope', 'x=1')).kind).toBe('not-found');
  });

  it('in lenient mode drops what it cannot use and says so', () => {
    const p = parse('Patient', 'foo=1&name=x&birthdate=bad', true);
    expect(p.filters).toHaveLength(1);
    expect(p.warnings).toEqual([
      "Parameter 'foo' was ignored: Unknown search parameter 'foo' for Patient",
      "Parameter 'birthdate' was ignored: Invalid date 'bad' for 'birthdate'",
    ]);
    expect(p.linkParams).toEqual([['name', 'x']]);
  });

  it('ignores empty values and keeps _format in links', () => {
    const p = parse('Patient', 'name=&_format=json');
    expect(p.filters).toHaveLength(0);
    expect(p.linkParams).toEqual([
      ['name', ''],
      ['_format', 'json'],
    ]);
  });
});
