import { InvalidRequest } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/**
 * SMART App Launch: `aud` is the FHIR base the app wants to reach; the server "SHALL" refuse a
 * request whose aud it does not recognize, so a token can never be lured to another server.
 */
export function checkAud(params: AuthorizeParams, fhirBase: string): void {
  if (!params.aud) throw new InvalidRequest('aud is required: the FHIR base URL of this server');
  if (params.aud.replace(/\/$/, '') !== fhirBase) throw new InvalidRequest('aud is not the FHIR base URL of this server');
}
