import { OperationOutcomeError, deepEquals } from '@medplum/core';
import type { StructureDefinition } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../db/database.ts';
import { Repository } from '../../store/repository.ts';
import { installRelease } from '../releases.ts';
import { platformProfiles } from './registry.ts';

/**
 * Puts the platform's profiles into a tenant as StructureDefinition resources (id = the profile's
 * id), so clients can read them and `$validate?profile=<url>` finds them. Idempotent: a profile
 * already stored with the same content is left alone, a changed one gets a new version. Runs when
 * a tenant is created, and at server start in every tenant that has not had this release of the
 * profiles (../releases.ts).
 */
export async function installProfiles(q: Queryable, tenant: string): Promise<void> {
  // The repository writes through `q` (the pool or a caller's transaction); it never opens its own.
  const repo = Repository.forServer(q as Database, {
    reason: 'profiles install',
    tenant,
    fhirBase: 'urn:bh-fhir:install',
    lenient: false,
    defaultCount: 1,
    maxCount: 1,
  }, q);
  for (const sd of platformProfiles().values()) {
    let current: StructureDefinition | undefined;
    try {
      current = await repo.readResource<StructureDefinition>('StructureDefinition', sd.id as string);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
    }
    if (current && deepEquals({ ...current, meta: undefined }, { ...sd, meta: undefined })) continue;
    try {
      await repo.updateResource<StructureDefinition>(sd);
    } catch (err) {
      // Another node starting at the same moment stored it first: that copy is the same release.
      if (!(err instanceof OperationOutcomeError && err.outcome.id === 'conflict')) throw err;
    }
  }
}

/** installProfiles in every tenant that has not had this release of the profiles (server start, ../releases.ts). */
export async function installProfilesEverywhere(db: Database): Promise<void> {
  await installRelease(db, 'profiles', [...platformProfiles().values()], (tenant) => installProfiles(db, tenant));
}
