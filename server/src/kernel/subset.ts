import { getDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { carryDecimals } from './json.ts';

/**
 * Subsetting a resource for _summary and _elements
 * (https://hl7.org/fhir/R4/search.html#summary, #elements).
 *   _summary=true   elements marked isSummary in the base definition
 *   _summary=text   text, id, meta and the mandatory (min ≥ 1) elements
 *   _summary=data   everything except text
 *   _summary=false  the whole resource (not a subset)
 *   _elements=a,b   the listed top-level elements, plus the mandatory ones ("servers SHOULD …
 *                   return … any mandatory elements")
 * resourceType, id and meta are always kept. A subset is labelled with the SUBSETTED tag
 * ("… SHALL be marked with the tag SUBSETTED") so that nobody mistakes it for the resource.
 * Only top-level elements are considered, as the _elements list in R4 names base elements.
 */
export interface SubsetOptions {
  summary?: 'true' | 'text' | 'data' | 'false';
  elements?: string[];
}

export const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource encoded in summary mode',
};

const ALWAYS = new Set(['resourceType', 'id', 'meta']);

interface TypeInfo {
  /** JSON key (valueQuantity, _birthDate) → element name (value, birthDate). */
  elementOf: (key: string) => string;
  summary: Set<string>;
  mandatory: Set<string>;
}

const cache = new Map<string, TypeInfo>();

function typeInfo(resourceType: string): TypeInfo {
  let info = cache.get(resourceType);
  if (info) return info;
  const schema = getDataType(resourceType);
  const choices = Object.keys(schema.elements)
    .filter((k) => k.endsWith('[x]'))
    .map((k) => k.slice(0, -3));
  const keyCache = new Map<string, string>();
  info = {
    summary: new Set(schema.summaryProperties ?? []),
    mandatory: new Set(schema.mandatoryProperties ?? []),
    elementOf(key) {
      let name = keyCache.get(key);
      if (name !== undefined) return name;
      const bare = key.startsWith('_') ? key.slice(1) : key;
      name = bare in schema.elements ? bare : (choices.find((c) => bare.startsWith(c) && /^[A-Z]/.test(bare.slice(c.length))) ?? bare);
      keyCache.set(key, name);
      return name;
    },
  };
  cache.set(resourceType, info);
  return info;
}

export function applySubset<T extends Resource>(resource: T, options: SubsetOptions): T {
  const { summary, elements } = options;
  if ((!summary || summary === 'false') && !elements) return resource;
  const info = typeInfo(resource.resourceType);
  let keep: (element: string) => boolean;
  if (elements) {
    const wanted = new Set(elements);
    keep = (e) => wanted.has(e) || info.mandatory.has(e);
  } else if (summary === 'true') {
    keep = (e) => info.summary.has(e) || info.mandatory.has(e);
  } else if (summary === 'text') {
    keep = (e) => e === 'text' || info.mandatory.has(e);
  } else {
    keep = (e) => e !== 'text';
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (ALWAYS.has(key) || keep(info.elementOf(key))) out[key] = value;
  }
  const meta = { ...(resource.meta ?? {}) };
  const tags = (meta.tag ?? []).filter((t) => !(t.system === SUBSETTED.system && t.code === SUBSETTED.code));
  meta.tag = [...tags, SUBSETTED];
  out.meta = meta;
  carryDecimals(resource, out);
  return out as T;
}
