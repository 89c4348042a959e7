import type { StructureDefinition } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CANONICAL_BASE } from '../codes.ts';
import { loadBases, withSnapshot } from './snapshot.ts';

/**
 * The platform's profiles (repository folder `profiles/`), with snapshots, keyed by canonical URL.
 * Read once per process: they are part of the release, not tenant data. Tenants receive copies as
 * StructureDefinition resources (./install.ts) so clients can read them and `$validate?profile=`.
 */
export const PROFILES_DIR = join(import.meta.dirname, '../../../../profiles');

let byUrl: Map<string, StructureDefinition> | undefined;

export function platformProfiles(): Map<string, StructureDefinition> {
  if (!byUrl) {
    const map = new Map<string, StructureDefinition>();
    const profiles: StructureDefinition[] = [];
    for (const file of readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json')).sort()) {
      const sd = JSON.parse(readFileSync(join(PROFILES_DIR, file), 'utf8')) as StructureDefinition;
      if (sd.resourceType !== 'StructureDefinition') continue;
      if (!sd.url?.startsWith(`${CANONICAL_BASE}/StructureDefinition/`)) throw new Error(`profiles/${file}: url must start with ${CANONICAL_BASE}`);
      profiles.push(sd);
    }
    // All bases at once: one cache file (or one read of the R4 bundle) for the whole set.
    loadBases(profiles);
    for (const sd of profiles) map.set(sd.url, withSnapshot(sd));
    byUrl = map;
  }
  return byUrl;
}

/** Our profiles a resource claims in meta.profile (canonical, optionally with |version). */
export function claimedProfiles(meta: { profile?: string[] } | undefined): StructureDefinition[] {
  const out: StructureDefinition[] = [];
  for (const p of meta?.profile ?? []) {
    const sd = platformProfiles().get(p.split('|')[0]);
    if (sd) out.push(sd);
  }
  return out;
}
