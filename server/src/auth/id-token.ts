import { SignJWT } from 'jose';
import type { SigningKeys } from './keys.ts';

/**
 * The OpenID Connect id_token (OpenID Connect Core §2, §3.1.3.6) as SMART App Launch profiles it
 * (sso-openid-connect): issued when `openid` and `fhirUser` (or `profile`) were granted; signed
 * RS256 ("SHALL support RS256"); carries iss, sub, aud (= client_id), exp, iat, auth_time and the
 * nonce sent to /authorize, plus `fhirUser`, the URL of the person's FHIR resource.
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-identity-data
 */
export interface IdTokenInput {
  issuer: string;
  clientId: string;
  /** Internal user id: stable and never reassigned (OIDC Core §2 "sub"). */
  subject: string;
  /** Absolute URL of the person's FHIR resource. */
  fhirUser?: string;
  nonce?: string;
  /** Seconds since the epoch. */
  authTime?: number;
  ttlSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
}

export function wantsIdToken(scope: string): boolean {
  const parts = scope.split(' ');
  return parts.includes('openid') && (parts.includes('fhirUser') || parts.includes('profile'));
}

export async function issueIdToken(keys: SigningKeys, input: IdTokenInput): Promise<string> {
  const iat = Math.floor(input.now / 1000);
  const claims: Record<string, unknown> = {};
  if (input.fhirUser) claims.fhirUser = input.fhirUser;
  if (input.nonce) claims.nonce = input.nonce;
  if (input.authTime !== undefined) claims.auth_time = input.authTime;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: keys.idToken.alg, kid: keys.idToken.kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setSubject(input.subject)
    .setAudience(input.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + input.ttlSeconds)
    .sign(keys.idToken.key);
}

/** SMART: fhirUser "SHALL be a fully qualified URL"; the code context may hold 'Practitioner/x'. */
export function absoluteFhirUser(fhirUser: string | undefined, fhirBase: string): string | undefined {
  if (!fhirUser) return undefined;
  return /^https?:\/\//.test(fhirUser) ? fhirUser : `${fhirBase}/${fhirUser}`;
}
