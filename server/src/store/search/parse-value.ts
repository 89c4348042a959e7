import type { SearchParam } from '../../kernel/definitions.ts';
import { fail } from '../../kernel/outcome.ts';
import { dateRange } from '../date-range.ts';
import { normalizeString } from '../indexer.ts';
import { splitEscaped, unescape } from './escape.ts';
import {
  type AtomValue,
  type CompositeValue,
  type DateValue,
  type NumberValue,
  PREFIXES,
  type Prefix,
  type QuantityValue,
  type ReferenceValue,
  type TokenValue,
  type Value,
} from './types.ts';

/**
 * Parses one (comma-separated) value of a search parameter by the parameter's type.
 * https://hl7.org/fhir/R4/search.html#ptypes: each type has its own value syntax; anything that
 * does not fit is a 400 naming the parameter (`name`), never passed on to SQL.
 */
export interface ValueContext {
  /** The server's FHIR base: a reference given as an absolute URL under it is a local reference. */
  fhirBase: string;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPED_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export function parseValue(param: SearchParam, modifier: string | undefined, raw: string, name: string, ctx: ValueContext): Value {
  if (param.type === 'composite') return parseComposite(param, raw, name, ctx);
  return parseAtom(param.type, modifier, raw, name, ctx);
}

function parseAtom(type: SearchParam['type'], modifier: string | undefined, raw: string, name: string, ctx: ValueContext): AtomValue {
  switch (type) {
    case 'string': {
      const s = unescape(raw);
      return { kind: 'string', norm: normalizeString(s), exact: s };
    }
    case 'token':
      if (modifier === 'text') return { kind: 'text', text: normalizeString(unescape(raw)) };
      if (modifier === 'of-type') return parseOfType(raw, name);
      return parseToken(raw);
    case 'reference':
      if (modifier === 'identifier') return parseToken(raw);
      return parseReference(raw, modifier, name, ctx);
    case 'date':
      return parseDate(raw, name);
    case 'number':
      return { kind: 'number', ...parseNumber(raw, name) };
    case 'quantity':
      return parseQuantity(raw, name);
    case 'uri':
      return { kind: 'uri', value: unescape(raw) };
    default:
      return fail('not-supported', `Search parameters of type '${type}' are not supported ('${name}')`, name);
  }
}

/** Splits a leading comparison prefix off an ordered value (https://hl7.org/fhir/R4/search.html#prefix). */
export function splitPrefix(raw: string): { prefix: Prefix; rest: string } {
  const head = raw.slice(0, 2) as Prefix;
  if (PREFIXES.includes(head) && raw.length > 2) return { prefix: head, rest: raw.slice(2) };
  return { prefix: 'eq', rest: raw };
}

/** `system|code`, `|code`, `system|`, `code` (https://hl7.org/fhir/R4/search.html#token). */
export function parseToken(raw: string): TokenValue {
  const parts = splitEscaped(raw, '|');
  if (parts.length === 1) return { kind: 'token', code: unescape(parts[0]) };
  const system = parts[0] === '' ? null : unescape(parts[0]);
  const rest = parts.slice(1).join('|'); // a bare '|' inside a code is taken literally
  return { kind: 'token', system, code: rest === '' ? undefined : unescape(rest) };
}

/**
 * `identifier:of-type=system|TYPECODE|value` (R4 search.html#token, :of-type). The indexer stores
 * these as `param:of-type` token rows with code `TYPECODE|value`, so the value maps onto one row.
 */
function parseOfType(raw: string, name: string): TokenValue {
  const parts = splitEscaped(raw, '|');
  if (parts.length !== 3 || !parts[1] || !parts[2]) {
    fail('invalid', `Invalid value for '${name}': :of-type expects system|code|value`, name);
  }
  return { kind: 'token', system: parts[0] === '' ? null : unescape(parts[0]), code: `${unescape(parts[1])}|${unescape(parts[2])}` };
}

/**
 * A reference value: `id`, `Type/id`, an absolute URL (local when under our base), or a canonical
 * URL with optional `|version` (https://hl7.org/fhir/R4/search.html#reference).
 * With a `:Type` modifier the value is the id of a resource of that type.
 */
function parseReference(raw: string, modifier: string | undefined, name: string, ctx: ValueContext): ReferenceValue {
  let v = unescape(raw);
  const base = ctx.fhirBase.replace(/\/$/, '') + '/';
  if (v.startsWith(base)) v = v.slice(base.length);
  const typed = TYPED_REF.exec(v);
  if (modifier) {
    if (typed) {
      if (typed[1] !== modifier) fail('invalid', `Invalid value for '${name}': '${v}' is not a ${modifier}`, name);
      return { kind: 'reference', type: modifier, id: typed[2] };
    }
    if (!ID.test(v)) fail('invalid', `Invalid value for '${name}': expected a ${modifier} id`, name);
    return { kind: 'reference', type: modifier, id: v };
  }
  if (typed) return { kind: 'reference', type: typed[1], id: typed[2] };
  if (ID.test(v)) return { kind: 'reference', id: v };
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return { kind: 'reference', url: v };
  return fail('invalid', `Invalid value for '${name}': '${v}' is not a reference`, name);
}

/** A date/dateTime/instant with optional prefix, as the [low, high) range of its precision. */
function parseDate(raw: string, name: string): DateValue {
  const { prefix, rest } = splitPrefix(raw);
  // A '+' of a time-zone offset that was not percent-encoded arrives as a space.
  const text = unescape(rest).replace(/ (\d{2}:\d{2})$/, '+$1');
  const r = dateRange(text);
  if (!r) fail('invalid', `Invalid date '${rest}' for '${name}'`, name);
  return { kind: 'date', prefix, low: pgInstant(r.low), high: pgInstant(r.high) };
}

/**
 * An ISO instant PostgreSQL accepts: years outside 0001–9999 (JavaScript writes them as
 * "+010000-…" or "0000-…") become ±infinity, which compare correctly with every stored value.
 */
export function pgInstant(iso: string): string {
  if (/^\d{4}-/.test(iso) && !iso.startsWith('0000')) return iso;
  return iso.startsWith('+') ? 'infinity' : '-infinity';
}

/**
 * A decimal and the half-width of its implicit precision (R4 search.html#number): "100" has three
 * significant figures so eq matches [99.5, 100.5); "1e2" has one, so [50, 150); "100.0" → ±0.05.
 * Kept as decimal strings so PostgreSQL does the arithmetic exactly in numeric.
 */
export function parseNumber(raw: string, name: string): { prefix: Prefix; value: string; half: string } {
  const { prefix, rest } = splitPrefix(raw);
  const m = NUMBER.exec(rest);
  if (!m) fail('invalid', `Invalid number '${rest}' for '${name}'`, name);
  const fraction = m[1].includes('.') ? m[1].length - m[1].indexOf('.') - 1 : 0;
  const exponent = m[3] ? Number(m[3].slice(1)) : 0;
  if (Math.abs(exponent) > 1000) fail('invalid', `Invalid number '${rest}' for '${name}'`, name);
  return { prefix, value: rest, half: `5e${exponent - fraction - 1}` };
}

/** `[prefix]number[|system|code]` (R4 search.html#quantity); `5.4||mg` matches code or unit. */
function parseQuantity(raw: string, name: string): QuantityValue {
  const parts = splitEscaped(raw, '|');
  const n: NumberValue = { kind: 'number', ...parseNumber(unescape(parts[0]), name) };
  if (parts.length === 1) return { ...n, kind: 'quantity' };
  if (parts.length !== 3) fail('invalid', `Invalid quantity '${raw}' for '${name}': expected number|system|code`, name);
  const system = unescape(parts[1]);
  const code = unescape(parts[2]);
  if (!system && !code) return { ...n, kind: 'quantity' };
  return { ...n, kind: 'quantity', system, code };
}

/** `a$b` — one value per component, in order (R4 search.html#composite). */
function parseComposite(param: SearchParam, raw: string, name: string, ctx: ValueContext): CompositeValue {
  const components = param.components ?? [];
  const parts = splitEscaped(raw, '$');
  if (components.length === 0 || parts.length !== components.length) {
    fail('invalid', `Invalid value for '${name}': expected ${components.length} components separated by '$'`, name);
  }
  return {
    kind: 'composite',
    parts: parts.map((p, i) => {
      if (p === '') fail('invalid', `Invalid value for '${name}': component ${i + 1} is empty`, name);
      return parseAtom(components[i].param.type, undefined, p, name, ctx);
    }),
  };
}
