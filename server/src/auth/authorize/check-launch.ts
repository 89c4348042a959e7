import type { Queryable } from '../../db/database.ts';
import { type LaunchContext, loadLaunchContext } from '../launch/index.ts';
import { InvalidRequest } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/**
 * EHR launch (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch): the
 * `launch` value names a context our EHR created for this tenant, not yet expired. Its patient,
 * encounter and fhirContext go into the code. A standalone launch has no `launch` parameter.
 */
export async function checkLaunch(db: Queryable, tenant: string, params: AuthorizeParams): Promise<LaunchContext | undefined> {
  if (params.launch === undefined) return undefined;
  const ctx = await loadLaunchContext(db, tenant, params.launch);
  if (!ctx) throw new InvalidRequest('launch is unknown or has expired; launch the app again from the EHR');
  return ctx;
}
