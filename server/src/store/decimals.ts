import { evalFhirPath } from '@medplum/core';
import type { Parameters, Resource } from '@medplum/fhirtypes';
import { carryDecimals, decimalText, hasDecimalText, rememberDecimal } from '../kernel/json.ts';

/**
 * Decimal texts (../kernel/json.ts) for a resource the batch processor rebuilt: @medplum's
 * BatchProcessor copies every entry (rewriting urn:uuid references), and the copy has lost what
 * the request body said. `donors` are the request's own entry resources; the one `stored` was
 * made from is the first not yet written (`used`, per attempt of the transaction) with the same
 * content, references and the stamped id and meta aside. Entries are written in bundle order
 * within each method, so two entries that differ only in a decimal's text each get their own.
 */
export function carryFromDonors(donors: readonly Resource[] | undefined, used: WeakSet<object>, stored: Resource): void {
  if (!donors?.length || hasDecimalText(stored)) return;
  for (const d of donors) {
    if (used.has(d) || d.resourceType !== stored.resourceType || !sameContent(d, stored, true)) continue;
    used.add(d);
    carryDecimals(d, stored);
    return;
  }
}

function sameContent(a: unknown, b: unknown, root = false): boolean {
  if (typeof a === 'string') return a === b || (typeof b === 'string' && a.includes('urn:uuid:'));
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const skip = (k: string) => root && (k === 'id' || k === 'meta');
  const ak = Object.keys(a).filter((k) => !skip(k));
  const bk = Object.keys(b).filter((k) => !skip(k));
  if (ak.length !== bk.length) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  return ak.every((k) => k in bo && sameContent(ao[k], bo[k]));
}

/** Decimal texts of JSON Patch values (RFC 6902 add / replace) in the resource they went into. */
export function carryPatchDecimals(patch: readonly { op: string; path: string; value?: unknown }[], patched: unknown): void {
  for (const op of patch) {
    if ((op.op !== 'add' && op.op !== 'replace') || !('value' in op)) continue;
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    let parent: unknown = patched;
    for (const k of keys.slice(0, -1)) parent = typeof parent === 'object' && parent !== null ? (parent as Record<string, unknown>)[k] : undefined;
    if (typeof parent !== 'object' || parent === null || keys.length === 0) continue;
    const last = keys[keys.length - 1];
    const key = Array.isArray(parent) && last === '-' ? parent.length - 1 : last;
    const target = (parent as Record<string, unknown>)[key];
    const text = decimalText(op, 'value');
    if (text !== undefined && target === op.value) rememberDecimal(parent, key, text);
    else carryDecimals(op.value, target);
  }
}

/**
 * Decimal texts of FHIRPath Patch values (https://hl7.org/fhir/R4/fhirpatch.html) in the resource:
 * `add` puts the value at path.name, `replace` at the path itself (its last step named the
 * element). `insert` and `move` place by index; their values keep the number only.
 */
export function carryFhirPathPatchDecimals(patch: Parameters, patched: Resource): void {
  for (const op of patch.parameter ?? []) {
    if (op.name !== 'operation') continue;
    const part = (name: string) => op.part?.find((p) => p.name === name);
    const type = part('type')?.valueCode;
    const path = part('path')?.valueString;
    const valuePart = part('value') as Record<string, unknown> | undefined;
    const valueKey = valuePart && Object.keys(valuePart).find((k) => k.startsWith('value'));
    if (!path || !valuePart || !valueKey) continue;
    let holderPath: string;
    let name: string | undefined;
    if (type === 'add') {
      holderPath = path;
      name = part('name')?.valueString;
    } else if (type === 'replace') {
      const m = /^(.+)\.([A-Za-z][A-Za-z0-9]*)$/.exec(path);
      if (!m) continue;
      [, holderPath, name] = m;
    } else continue;
    if (!name) continue;
    let holders: unknown[];
    try {
      holders = evalFhirPath(holderPath, patched);
    } catch {
      continue;
    }
    const value = valuePart[valueKey];
    for (const h of holders) {
      if (typeof h !== 'object' || h === null) continue;
      let holder = h as Record<string, unknown> | unknown[];
      let key: string | number = name;
      let target = (holder as Record<string, unknown>)[key];
      if (Array.isArray(target) && type === 'add') {
        holder = target;
        key = target.length - 1;
        target = target[key];
      }
      const text = decimalText(valuePart, valueKey);
      if (text !== undefined && target === value) rememberDecimal(holder, key, text);
      else carryDecimals(value, target);
    }
  }
}
