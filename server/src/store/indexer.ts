import { type TypedValue, evalFhirPathTyped, parseFhirPath, toTypedValue } from '@medplum/core';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { type SearchParam, searchParamsFor } from '../kernel/definitions.ts';
import { dateRange, MAX_INSTANT, MIN_INSTANT } from './date-range.ts';
import { type IndexRows, emptyRows } from './index-rows.ts';
import { exact, normalizeString, quantityRow } from './index-values.ts';
import { evalMemberPath, memberPath } from './member-paths.ts';
import { scoreObservationRows } from './observation-index.ts';

export { normalizeString };

/**
 * Turns a resource into its search-index rows: every R4 search parameter of its type is evaluated
 * (FHIRPath via @medplum/core) and each value is stored in the shape its comparisons need.
 * `_id` and `_lastUpdated` are not indexed here: they live on the resource row itself.
 */
export function indexResource(resource: Resource, fhirBase?: string): IndexRows {
  // The shape of the Observations the server derives from a response (scores, SDC extraction):
  // their rows built directly, as AuditEvents' are (./observation-index.ts).
  if (resource.resourceType === 'Observation') {
    const rows = scoreObservationRows(resource as Observation, fhirBase);
    if (rows) return rows;
  }
  return indexEveryParam(resource, fhirBase);
}

/** The general indexer: every search parameter of the type, evaluated (what `indexResource` does for other shapes). */
export function indexEveryParam(resource: Resource, fhirBase?: string): IndexRows {
  const rows = emptyRows();
  const base = fhirBase ? fhirBase.replace(/\/$/, '') + '/' : undefined;
  const root = [toTypedValue(resource)];
  for (const param of searchParamsFor(resource.resourceType).values()) {
    if (param.code === '_id' || param.code === '_lastUpdated' || param.rootComposite) continue;
    let values: TypedValue[];
    try {
      values = evaluate(param.details.parsedExpression, root);
    } catch {
      continue; // An expression that cannot apply to this instance indexes nothing.
    }
    if (param.type === 'composite') {
      addComposite(rows, param, values, base);
    } else {
      for (const v of values) addValue(rows, param.code, param.type, null, v, base);
    }
  }
  return rows;
}

/** Member paths without @medplum/core's path tracking (./member-paths.ts); anything else by @medplum/core. */
function evaluate(expression: ReturnType<typeof parseFhirPath>, input: TypedValue[]): TypedValue[] {
  const fast = memberPath(expression);
  return fast ? evalMemberPath(fast, input) : evalFhirPathTyped(expression, input);
}

const relativeCache = new Map<string, ReturnType<typeof parseFhirPath>>();

function addComposite(rows: IndexRows, param: SearchParam, values: TypedValue[], base: string | undefined): void {
  values.forEach((value, grp) => {
    param.components?.forEach((component, i) => {
      let atom = relativeCache.get(component.expression);
      if (!atom) relativeCache.set(component.expression, (atom = parseFhirPath(component.expression)));
      let parts: TypedValue[];
      try {
        parts = evaluate(atom, [value]);
      } catch {
        return;
      }
      for (const p of parts) addValue(rows, `${param.code}#${i}`, component.param.type, grp, p, base);
    });
  });
}

function addValue(
  rows: IndexRows,
  code: string,
  type: SearchParam['type'],
  grp: number | null,
  tv: TypedValue,
  base: string | undefined
): void {
  const v = tv.value;
  if (v === undefined || v === null) return;
  switch (type) {
    case 'string':
      return addStrings(rows, code, grp, tv);
    case 'token':
      return addTokens(rows, code, grp, tv);
    case 'reference':
      return addReference(rows, code, grp, tv, base);
    case 'date':
      return addDate(rows, code, grp, tv);
    case 'number':
      return addNumber(rows, code, grp, tv);
    case 'quantity':
      return addQuantity(rows, code, grp, tv);
    case 'uri':
      if (typeof v === 'string') rows.uri.push({ param: code, grp, value: v });
      return;
    default:
      return;
  }
}


function pushString(rows: IndexRows, param: string, grp: number | null, s: unknown): void {
  if (typeof s !== 'string' || !s) return;
  rows.string.push({ param, grp, norm: normalizeString(s), exact: s });
}

function addStrings(rows: IndexRows, param: string, grp: number | null, tv: TypedValue): void {
  const v = tv.value;
  switch (tv.type) {
    case 'HumanName':
      pushString(rows, param, grp, v.text);
      pushString(rows, param, grp, v.family);
      for (const s of [...(v.given ?? []), ...(v.prefix ?? []), ...(v.suffix ?? [])]) pushString(rows, param, grp, s);
      return;
    case 'Address':
      pushString(rows, param, grp, v.text);
      for (const s of v.line ?? []) pushString(rows, param, grp, s);
      for (const k of ['city', 'district', 'state', 'postalCode', 'country']) pushString(rows, param, grp, v[k]);
      return;
    default:
      if (typeof v === 'string') pushString(rows, param, grp, v);
      else if (typeof v === 'object' && typeof v.text === 'string') pushString(rows, param, grp, v.text);
  }
}

function pushToken(rows: IndexRows, param: string, grp: number | null, system: unknown, code: unknown, text: unknown): void {
  const sys = typeof system === 'string' ? system : null;
  const c = typeof code === 'string' ? code : typeof code === 'boolean' || typeof code === 'number' ? String(code) : null;
  const t = typeof text === 'string' && text ? normalizeString(text) : null;
  if (sys === null && c === null && t === null) return;
  rows.token.push({ param, grp, system: sys, code: c, text: t });
}

function addTokens(rows: IndexRows, param: string, grp: number | null, tv: TypedValue): void {
  const v = tv.value;
  switch (tv.type) {
    case 'CodeableConcept':
      for (const c of v.coding ?? []) pushToken(rows, param, grp, c.system, c.code, c.display);
      if (v.text) pushToken(rows, param, grp, null, null, v.text);
      return;
    case 'Coding':
      return pushToken(rows, param, grp, v.system, v.code, v.display);
    case 'Identifier':
      // The identifier type's text supports :text; :of-type searches type coding + value.
      pushToken(rows, param, grp, v.system, v.value, v.type?.text);
      for (const c of v.type?.coding ?? []) {
        if (c.code && v.value) pushToken(rows, `${param}:of-type`, grp, c.system, `${c.code}|${v.value}`, null);
      }
      return;
    case 'ContactPoint':
      return pushToken(rows, param, grp, v.system, v.value, null);
    case 'Quantity':
    case 'Age':
    case 'Duration':
      return pushToken(rows, param, grp, v.system, v.code, v.unit);
    case 'Reference':
      if (v.identifier) pushToken(rows, param, grp, v.identifier.system, v.identifier.value, null);
      return;
    default:
      if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') pushToken(rows, param, grp, null, v, null);
  }
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
function addReference(rows: IndexRows, param: string, grp: number | null, tv: TypedValue, base: string | undefined): void {
  const v = tv.value;
  if (typeof v === 'string') {
    // canonical or uri: versioned canonicals match without their |version suffix as well.
    rows.reference.push({ param, grp, targetType: null, targetId: null, url: v });
    const bar = v.indexOf('|');
    if (bar > 0) rows.reference.push({ param, grp, targetType: null, targetId: null, url: v.slice(0, bar) });
    return;
  }
  if (typeof v !== 'object') return;
  if (v.identifier) {
    rows.token.push({ param: `${param}:identifier`, grp, system: v.identifier.system ?? null, code: v.identifier.value ?? null, text: null });
  }
  const ref: unknown = v.reference;
  if (typeof ref !== 'string' || ref.startsWith('#')) return;
  // A reference written against our own base is a local one: `subject=Patient/123` finds it.
  const local = LOCAL_REF.exec(base && ref.startsWith(base) ? ref.slice(base.length) : ref);
  if (local) {
    rows.reference.push({ param, grp, targetType: local[1], targetId: local[2], url: null });
    return;
  }
  // Another server's URL (or a urn): only the URL itself identifies it.
  rows.reference.push({ param, grp, targetType: null, targetId: null, url: ref });
}

function addDate(rows: IndexRows, param: string, grp: number | null, tv: TypedValue): void {
  const v = tv.value;
  if (typeof v === 'string') {
    const r = dateRange(v);
    if (r) rows.date.push({ param, grp, low: r.low, high: r.high });
    return;
  }
  if (typeof v !== 'object') return;
  if (tv.type === 'Period') {
    const low = v.start ? dateRange(v.start)?.low : MIN_INSTANT;
    const high = v.end ? dateRange(v.end)?.high : MAX_INSTANT;
    if (low && high && (v.start || v.end)) rows.date.push({ param, grp, low, high });
    return;
  }
  if (tv.type === 'Timing') {
    for (const e of v.event ?? []) {
      const r = dateRange(e);
      if (r) rows.date.push({ param, grp, low: r.low, high: r.high });
    }
    const b = v.repeat?.boundsPeriod;
    if (b?.start || b?.end) {
      const low = b.start ? dateRange(b.start)?.low : MIN_INSTANT;
      const high = b.end ? dateRange(b.end)?.high : MAX_INSTANT;
      if (low && high) rows.date.push({ param, grp, low, high });
    }
  }
}


function addNumber(rows: IndexRows, param: string, grp: number | null, tv: TypedValue): void {
  const v = tv.value;
  if (typeof v === 'number') rows.number.push({ param, grp, low: v, high: v });
  else if (tv.type === 'Range' && v) rows.number.push({ param, grp, low: exact(v.low), high: exact(v.high) });
}

function addQuantity(rows: IndexRows, param: string, grp: number | null, tv: TypedValue): void {
  const v = tv.value;
  if (!v || typeof v !== 'object') {
    if (typeof v === 'number') rows.quantity.push(quantityRow(param, grp, v, v, null, null, null));
    return;
  }
  if (tv.type === 'Range') {
    const q = v.low ?? v.high ?? {};
    rows.quantity.push(quantityRow(param, grp, exact(v.low), exact(v.high), q.system, q.code, q.unit));
    return;
  }
  if (tv.type === 'SampledData') return; // No single value to compare against.
  if (typeof v.value === 'number') rows.quantity.push(quantityRow(param, grp, exact(v), exact(v), v.system, v.code, v.unit));
}

