import { UnsupportedGrantType } from '../errors.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * Step 2: the grant type decides the rest of the request.
 * - client_credentials (RFC 6749 §4.4): SMART Backend Services;
 * - authorization_code (§4.1.3) and refresh_token (§6): SMART App Launch.
 * Other grant types answer unsupported_grant_type (RFC 6749 §5.2).
 */
export const GRANT_TYPES = ['client_credentials', 'authorization_code', 'refresh_token'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export function checkGrantType(params: TokenParameters): GrantType {
  const grantType = required(params, 'grant_type');
  if (!(GRANT_TYPES as readonly string[]).includes(grantType)) {
    throw new UnsupportedGrantType(`grant_type "${clip(grantType)}" is not supported; use ${GRANT_TYPES.join(', ')}`);
  }
  return grantType as GrantType;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
