import { UnsupportedGrantType } from '../errors.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * Step 2: SMART Backend Services uses the client credentials grant (RFC 6749 §4.4):
 * "grant_type: required, fixed value: client_credentials".
 * https://hl7.org/fhir/smart-app-launch/backend-services.html#request
 * Other grant types answer unsupported_grant_type (RFC 6749 §5.2).
 */
export const GRANT_TYPES = ['client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export function checkGrantType(params: TokenParameters): GrantType {
  const grantType = required(params, 'grant_type');
  if (!(GRANT_TYPES as readonly string[]).includes(grantType)) {
    throw new UnsupportedGrantType(`grant_type "${clip(grantType)}" is not supported; use client_credentials`);
  }
  return grantType as GrantType;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
