import { OperationOutcomeError } from '@medplum/core';
import { type SearchParam, isKnownResourceType, resourceTypes, searchParam, searchParamsFor } from '../../kernel/definitions.ts';
import { fail } from '../../kernel/outcome.ts';
import { AUDIT_TYPE } from '../audit-table.ts';
import { checkAuditParam, checkAuditSort } from './audit.ts';
import { splitEscaped } from './escape.ts';
import { checkChainDepth, checkRequestLimits, checkSortKeys, checkValues } from './limits.ts';
import { type ValueContext, parseValue } from './parse-value.ts';
import type { Filter, IncludeSpec, ParsedSearch, SortKey, Summary, Total } from './types.ts';

/**
 * Parses a search request's query pairs (https://hl7.org/fhir/R4/search.html).
 * Repetition of a parameter is AND, a comma inside one value is OR (#combining). Parameters are
 * `name[:modifier][.chain]` or `_has:Type:ref:name` (#chaining, #has). Unknown names, modifiers
 * or malformed values are 400s naming the parameter, unless the client asked for lenient handling
 * (#errors: `Prefer: handling=lenient`), in which case they are dropped and reported.
 */
export interface ParseOptions extends ValueContext {
  lenient: boolean;
  defaultCount: number;
  maxCount: number;
}

/** Our opaque paging cursor (see paging.ts). */
export const CURSOR_PARAM = '_cursor';

/** Result parameters we do not implement; `_contained=false` is the default and accepted. */
const UNSUPPORTED = new Set(['_text', '_content', '_list', '_query', '_filter', '_containedType', '_score']);
/** Spec modifiers we know but do not implement (terminology-dependent or hierarchical). */
const UNSUPPORTED_MODIFIERS = new Set(['in', 'not-in', 'above', 'below', 'text', 'iterate', 'type']);
const MODIFIERS: Record<string, string[]> = {
  string: ['exact', 'contains', 'missing'],
  token: ['not', 'text', 'of-type', 'missing'],
  reference: ['identifier', 'missing'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  uri: ['above', 'below', 'missing'],
  composite: ['missing'],
};

let allTypes: string[] | undefined;
/** Every concrete resource type (for a system search without _type). */
export function allResourceTypes(): string[] {
  // AuditEvents are the access log in a table of their own (../audit-table.ts), searched by type.
  allTypes ??= resourceTypes().filter((t) => t !== AUDIT_TYPE && searchParamsFor(t).size > 0);
  return allTypes;
}

export function parseSearch(resourceType: string | undefined, pairs: [string, string][], opts: ParseOptions): ParsedSearch {
  checkRequestLimits(pairs, CURSOR_PARAM);
  const warnings: string[] = [];
  const linkParams: [string, string][] = [];
  /** Runs one parameter's parsing; in lenient mode a 400 becomes a warning and the pair is dropped. */
  const attempt = (pair: [string, string], fn: () => void): void => {
    try {
      fn();
      linkParams.push(pair);
    } catch (err) {
      const kind = err instanceof OperationOutcomeError ? err.outcome.id : undefined;
      if (!opts.lenient || (kind !== 'invalid' && kind !== 'not-supported')) throw err;
      const why = err instanceof OperationOutcomeError ? err.outcome.issue?.[0]?.diagnostics : undefined;
      warnings.push(`Parameter '${pair[0]}' was ignored: ${why ?? 'invalid'}`);
    }
  };

  // The searched types come first: every other parameter is interpreted against them.
  let types: string[];
  let explicitTypes = true;
  if (resourceType !== undefined) {
    if (!isKnownResourceType(resourceType)) fail('not-found', `Unknown resource type '${resourceType}'`);
    types = [resourceType];
  } else {
    types = allResourceTypes();
    explicitTypes = false;
    for (const pair of pairs) {
      if (pair[0] !== '_type' || !pair[1]) continue;
      attempt(pair, () => {
        const listed = pair[1].split(',').map((t) => t.trim());
        for (const t of listed) if (!isKnownResourceType(t)) fail('invalid', `Unknown resource type '${t}' in _type`, '_type');
        types = [...new Set(listed)];
        if (types.length > 1 && types.includes(AUDIT_TYPE)) fail('not-supported', 'AuditEvent is searched on its own (AuditEvent?…), not together with other types', '_type');
        explicitTypes = true;
      });
    }
  }

  const out: ParsedSearch = { types, explicitTypes, filters: [], sort: [], count: opts.defaultCount, includes: [], linkParams, warnings };
  for (const pair of pairs) {
    const [name, value] = pair;
    if (name === '_type' && resourceType === undefined) continue;
    if (name === CURSOR_PARAM) {
      out.cursor = value;
      continue;
    }
    attempt(pair, () => {
      // PostgreSQL text cannot hold NUL; reject it here rather than as a database error.
      if (name.includes('\u0000') || value.includes('\u0000')) fail('invalid', `Invalid character in parameter '${name.replace(/\u0000/g, '')}'`, name.replace(/\u0000/g, ''));
      parsePair(out, name, value, opts);
    });
  }
  return out;
}

function parsePair(out: ParsedSearch, name: string, value: string, opts: ParseOptions): void {
  switch (name) {
    case '_count': {
      if (!/^\d{1,9}$/.test(value)) fail('invalid', `Invalid _count '${value}': expected a non-negative integer`, '_count');
      out.count = Math.min(Number(value), opts.maxCount);
      if (Number(value) > opts.maxCount) out.warnings.push(`_count=${Number(value)} is above this server's page size limit: pages hold at most ${opts.maxCount} entries`);
      return;
    }
    case '_sort':
      out.sort = parseSort(out.types, value);
      return;
    case '_total':
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
        fail('invalid', `Invalid _total '${value}': expected none, estimate or accurate`, '_total');
      }
      out.total = value as Total;
      return;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(value)) {
        fail('invalid', `Invalid _summary '${value}': expected true, text, data, count or false`, '_summary');
      }
      out.summary = value as Summary;
      return;
    case '_elements': {
      const els = value.split(',').map((e) => e.trim()).filter(Boolean);
      for (const e of els) if (!/^[A-Za-z][A-Za-z0-9]*(\[x\])?$/.test(e)) fail('invalid', `Invalid _elements entry '${e}'`, '_elements');
      out.elements = els.map((e) => e.replace('[x]', ''));
      return;
    }
    case '_format':
    case '_pretty':
      return; // Handled by the HTTP layer; kept in the links.
    case '_contained':
      if (value !== 'false') fail('not-supported', `_contained=${value} is not supported`, '_contained');
      return;
    case '_type':
      return fail('invalid', `_type is only allowed in a system-level search`, '_type');
  }
  const include = /^_(rev)?include(?::(iterate|recurse))?$/.exec(name);
  if (include) {
    out.includes.push(parseInclude(value, Boolean(include[1]), Boolean(include[2]), name));
    return;
  }
  const bare = name.split(/[:.]/)[0];
  if (UNSUPPORTED.has(bare)) fail('not-supported', `Search parameter '${bare}' is not supported`, name);
  if (value === '') return; // An empty value places no constraint (and is not an error).
  checkChainDepth(name);
  out.filters.push(parseFilter(out.types, name, value, opts));
}

/** Looks a parameter up in every searched type; it must exist, with one type, in all of them. */
export function lookupParam(types: string[], code: string, name: string): SearchParam {
  let found: SearchParam | undefined;
  for (const t of types) {
    const p = searchParam(t, code);
    if (!p) {
      const where = types.length === 1 ? t : types.length > 3 ? 'every searched type' : types.join(', ');
      fail('invalid', `Unknown search parameter '${code}' for ${where}`, name);
    }
    if (found && found.type !== p.type) fail('invalid', `Search parameter '${code}' has different types across ${types.join(', ')}`, name);
    found ??= p;
  }
  if (!found) fail('invalid', `Unknown search parameter '${code}'`, name);
  return found;
}

/** Reference targets of a parameter across the searched types. */
export function targetsOf(types: string[], code: string): string[] {
  const set = new Set<string>();
  for (const t of types) for (const target of searchParam(t, code)?.definition.target ?? []) set.add(target);
  return [...set];
}

/** One filter parameter: plain, chained (`a.b`) or reverse-chained (`_has:`). */
export function parseFilter(types: string[], name: string, value: string, opts: ValueContext): Filter {
  if (name.startsWith('_has:')) return parseHas(types, name, value, opts);
  const dot = name.indexOf('.');
  const head = dot >= 0 ? name.slice(0, dot) : name;
  const colon = head.indexOf(':');
  const code = colon >= 0 ? head.slice(0, colon) : head;
  const modifier = colon >= 0 ? head.slice(colon + 1) : undefined;
  const param = lookupParam(types, code, name);
  if (types.length === 1 && types[0] === AUDIT_TYPE) checkAuditParam(code, modifier, name, dot >= 0);

  if (dot >= 0) return parseChain(types, name, param, code, modifier, name.slice(dot + 1), value, opts);

  if (param.type === 'special') fail('not-supported', `Search parameter '${code}' (special) is not supported`, name);
  if ((code === '_id' || code === '_lastUpdated') && modifier !== undefined) {
    fail('invalid', `Modifier ':${modifier}' is not allowed on ${code}`, name);
  }
  if (modifier !== undefined) checkModifier(param, code, modifier, name);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') fail('invalid', `Invalid value for '${name}': expected true or false`, name);
    return { kind: 'param', name, param, modifier, missing: value === 'true', values: [] };
  }
  const parts = splitEscaped(value, ',');
  checkValues(name, parts.length);
  const values = parts.map((v) => {
    if (v === '') fail('invalid', `Invalid value for '${name}': empty value in a comma-separated list`, name);
    return parseValue(param, modifier, v, name, opts);
  });
  if (code === '_id') {
    for (const v of values) {
      if (v.kind !== 'token' || v.system !== undefined || !v.code) fail('invalid', `Invalid value for '_id'`, name);
    }
  }
  return { kind: 'param', name, param, modifier, values };
}

function checkModifier(param: SearchParam, code: string, modifier: string, name: string): void {
  if (MODIFIERS[param.type]?.includes(modifier)) return;
  if (param.type === 'reference' && isKnownResourceType(modifier)) {
    const targets = param.definition.target ?? [];
    if (targets.length && !targets.includes(modifier as never)) {
      fail('invalid', `Search parameter '${code}' does not refer to ${modifier}`, name);
    }
    return;
  }
  if (UNSUPPORTED_MODIFIERS.has(modifier)) fail('not-supported', `Modifier ':${modifier}' is not supported for '${code}'`, name);
  fail('invalid', `Unknown modifier ':${modifier}' for search parameter '${code}'`, name);
}

/**
 * `ref[:Type].rest` (https://hl7.org/fhir/R4/search.html#chaining). Without :Type the chain is
 * tried against every declared target that has the next parameter; the spec lets a server do this
 * or reject the ambiguity, and searching all targets is what a client usually means.
 */
function parseChain(
  types: string[],
  name: string,
  param: SearchParam,
  code: string,
  modifier: string | undefined,
  rest: string,
  value: string,
  opts: ValueContext
): Filter {
  if (param.type !== 'reference') fail('invalid', `Search parameter '${code}' is not a reference and cannot be chained`, name);
  let targets: string[];
  if (modifier !== undefined) {
    if (!isKnownResourceType(modifier)) fail('invalid', `Invalid chain modifier ':${modifier}' on '${code}': expected a resource type`, name);
    const declared = targetsOf(types, code);
    if (declared.length && !declared.includes(modifier)) fail('invalid', `Search parameter '${code}' does not refer to ${modifier}`, name);
    targets = [modifier];
  } else {
    targets = targetsOf(types, code);
    if (targets.length === 0) fail('invalid', `Chaining through '${code}' needs a type modifier, e.g. ${code}:Patient.name`, name);
  }
  const nextCode = rest.startsWith('_has:') ? '_has' : rest.split(/[.:]/)[0];
  const usable = targets.filter((t) => nextCode === '_has' || searchParam(t, nextCode));
  if (usable.length === 0) {
    fail('invalid', `Unknown search parameter '${nextCode}' for ${targets.length === 1 ? targets[0] : `the targets of '${code}'`}`, name);
  }
  return { kind: 'chain', name, param, targets: usable.map((t) => ({ type: t, filter: parseFilter([t], rest, value, opts) })) };
}

/** `_has:Type:ref:rest` (https://hl7.org/fhir/R4/search.html#has), nestable through `rest`. */
function parseHas(types: string[], name: string, value: string, opts: ValueContext): Filter {
  const parts = name.split(':');
  if (parts.length < 4 || !parts[3]) fail('invalid', `Invalid _has parameter '${name}': expected _has:Type:reference:parameter`, name);
  const [, type, refParam] = parts;
  const rest = parts.slice(3).join(':');
  if (!isKnownResourceType(type)) fail('invalid', `Unknown resource type '${type}' in '${name}'`, name);
  const ref = searchParam(type, refParam);
  if (!ref || ref.type !== 'reference') fail('invalid', `'${refParam}' is not a reference search parameter of ${type}`, name);
  if (type === AUDIT_TYPE) checkAuditParam(refParam, undefined, name);
  const targets = ref.definition.target ?? [];
  if (targets.length && !types.some((t) => targets.includes(t as never))) {
    fail('invalid', `${type}.${refParam} does not refer to ${types.join(', ')}`, name);
  }
  return { kind: 'has', name, type, refParam, filter: parseFilter([type], rest, value, opts) };
}

/** `_sort=a,-b` (https://hl7.org/fhir/R4/search.html#sort). */
function parseSort(types: string[], value: string): SortKey[] {
  const keys = value.split(',');
  checkSortKeys(keys.length);
  return keys.map((raw) => {
    const key = raw.trim();
    const descending = key.startsWith('-');
    const code = descending ? key.slice(1) : key;
    if (!code || /[:.]/.test(code)) fail('invalid', `Invalid _sort key '${key}'`, '_sort');
    const param = lookupParam(types, code, '_sort');
    if (types.length === 1 && types[0] === AUDIT_TYPE) checkAuditSort(code);
    if (param.type === 'composite' || param.type === 'special') {
      fail('not-supported', `Sorting by '${code}' (${param.type}) is not supported`, '_sort');
    }
    return { name: code, param, descending };
  });
}

/** `_include=Type:param[:target]`, `_include=Type:*`, `_include=*` (R4 search.html#include). */
function parseInclude(value: string, reverse: boolean, iterate: boolean, name: string): IncludeSpec {
  if (value === '*' && reverse) fail('not-supported', `${name}=* is not supported`, name);
  if (value === '*') return { reverse, iterate, sourceType: '*', params: ['*'], raw: value };
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) fail('invalid', `Invalid ${name} '${value}': expected Type:parameter[:targetType]`, name);
  const [sourceType, code, targetType] = parts;
  if (!isKnownResourceType(sourceType)) fail('invalid', `Unknown resource type '${sourceType}' in ${name}`, name);
  if (code !== '*') {
    const p = searchParam(sourceType, code);
    if (!p || p.type !== 'reference') fail('invalid', `'${code}' is not a reference search parameter of ${sourceType}`, name);
  }
  if (targetType !== undefined && !isKnownResourceType(targetType)) fail('invalid', `Unknown resource type '${targetType}' in ${name}`, name);
  return { reverse, iterate, sourceType, params: [code], targetType, raw: value };
}
