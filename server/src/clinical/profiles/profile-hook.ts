import { getAllDataTypes, parseStructureDefinition, validateTypedValue } from '@medplum/core';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import type { WriteHook } from '../../store/hooks.ts';
import { asInvalid, validate } from '../../store/validate.ts';
import { claimedProfiles } from './registry.ts';

/**
 * Validates every create, update and patch of a resource whose meta.profile names one of the
 * platform's profiles against that profile (https://hl7.org/fhir/R4/profiling.html): a violation
 * is a 400 OperationOutcome whose issues name the element (store/validate.ts), and nothing is
 * stored because hooks run inside the write. Resources that claim no profile of ours get the
 * base R4 validation only, as before; the server's own generated resources carry the profile
 * (written through a `serverBuilt` repository, they are validated by tests instead:
 * test/clinical/server-built.test.ts).
 */
/** Validates a resource against every platform profile it claims (400 naming the element). */
export function validateClaimedProfiles(resource: Resource): void {
  for (const profile of claimedProfiles(resource.meta ?? {})) validateAgainst(resource, profile);
}

export const profileValidationHook: WriteHook = {
  name: 'profile-validation',
  types: '*',
  async beforeWrite({ after, repo }) {
    // The server's own builders (scores, risk Tasks) are checked against their profiles by tests.
    if (!after?.meta?.profile?.length || repo.ctx.serverBuilt) return;
    validateClaimedProfiles(after);
  },
};

/**
 * `validate(resource, profile)` without parsing the profile on every call. @medplum/core's
 * validateResource(resource, { profile }) parses the StructureDefinition each time (~1.1 ms for
 * assessment-score, of a 1.3 ms validation; a PHQ-9 response writes ten such Observations). The
 * profiles are fixed for the process (./registry.ts), so each is parsed once and kept in the
 * schema registry under its canonical URL — the root schema only, exactly what validateResource
 * would build, not through loadDataType (which would also register the profile's inner types
 * under their names, beside the base types) — and validated with validateTypedValue, the same
 * validator. A resource of another type than the profile's (a client's mistake) goes the
 * original way, so its errors stay exactly what they were.
 */
function validateAgainst(resource: Resource, profile: StructureDefinition): void {
  const url = profile.url;
  if (!url || resource.resourceType !== profile.type || /^[A-Za-z]+$/.test(url)) {
    validate(resource, profile);
    return;
  }
  const types = getAllDataTypes();
  if (parsedFrom.get(url) !== profile) {
    types[url] = parseStructureDefinition(profile);
    parsedFrom.set(url, profile);
  }
  try {
    validateTypedValue({ type: url, value: resource });
  } catch (err) {
    throw asInvalid(err);
  }
}

/** Which StructureDefinition object each registered schema was parsed from. */
const parsedFrom = new Map<string, StructureDefinition>();
