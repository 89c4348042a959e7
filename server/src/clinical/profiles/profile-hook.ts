import type { WriteHook } from '../../store/hooks.ts';
import { validate } from '../../store/validate.ts';
import { claimedProfiles } from './registry.ts';

/**
 * Validates every create, update and patch of a resource whose meta.profile names one of the
 * platform's profiles against that profile (https://hl7.org/fhir/R4/profiling.html): a violation
 * is a 400 OperationOutcome whose issues name the element (store/validate.ts), and nothing is
 * stored because hooks run inside the write. Resources that claim no profile of ours get the
 * base R4 validation only, as before; the server's own generated resources carry the profile.
 */
export const profileValidationHook: WriteHook = {
  name: 'profile-validation',
  types: '*',
  async beforeWrite({ after }) {
    if (!after?.meta?.profile?.length) return;
    for (const profile of claimedProfiles(after.meta)) validate(after, profile);
  },
};
