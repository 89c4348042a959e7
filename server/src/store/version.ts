import type { WithId } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { carryDecimals, stringifyJson } from '../kernel/json.ts';
import { fail } from '../kernel/outcome.ts';
import { ID } from './current-row.ts';
import { carryFromDonors } from './decimals.ts';
import { indexResource } from './indexer.ts';
import { validate } from './validate.ts';
import type { VersionWrite } from './write.ts';

/**
 * A resource becoming a stored version: checked, stamped with its meta, serialized and indexed
 * once, here, for every way a version is written (create, update, patch, update as create).
 */

/** How a version is made: by the server's own code (no validation), and with whose decimal texts. */
export interface VersionSource {
  /** Built by the server's own code from validated input (RepositoryContext.serverBuilt). */
  serverBuilt?: boolean;
  /** The request's own resources, whose decimal texts copies made on the way have lost (decimals.ts). */
  decimalDonors?: readonly Resource[];
  /** What the donors already given out are counted per: the transaction attempt, or the request. */
  donorsKey: object;
}

/** Validates and stamps meta; returns the exact resource that will be stored. */
export function stamped<T extends Resource>(resource: T, version: number, source: VersionSource): WithId<T> {
  if (resource.id !== undefined && !ID.test(resource.id)) {
    fail('invalid', `Invalid resource id '${resource.id}'`, `${resource.resourceType}.id`);
  }
  if (!source.serverBuilt) validate(resource);
  const meta = { ...resource.meta, versionId: String(version), lastUpdated: new Date().toISOString() };
  const stored = { ...resource, meta } as WithId<T>;
  carryDecimals(resource, stored);
  if (source.decimalDonors) carryFromDonors(source.decimalDonors, usedDonors(source.donorsKey), stored);
  return stored;
}

/** The write of a stamped version: its text and index rows, with what it replaces for the hooks. */
export function versionWrite<R extends Resource>(stored: WithId<R>, method: VersionWrite['method'], exists: boolean, fhirBase: string, before?: Resource): VersionWrite {
  return {
    before,
    type: stored.resourceType,
    id: stored.id,
    version: Number(stored.meta?.versionId),
    lastUpdated: stored.meta?.lastUpdated as string,
    deleted: false,
    method,
    content: stringifyJson(stored),
    index: indexResource(stored, fhirBase),
    exists,
    resource: stored,
  };
}

/** The donors (decimals.ts) already written, per transaction attempt. */
const donorsUsed = new WeakMap<object, WeakSet<object>>();
function usedDonors(key: object): WeakSet<object> {
  let used = donorsUsed.get(key);
  if (!used) donorsUsed.set(key, (used = new WeakSet()));
  return used;
}
