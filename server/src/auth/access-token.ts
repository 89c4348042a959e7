import { SignJWT, jwtVerify, decodeProtectedHeader } from 'jose';
import { randomUUID } from 'node:crypto';
import type { SigningKeys } from './keys.ts';

/**
 * Access tokens are short-lived JWTs signed by the server. Claims: iss (server base), aud (FHIR base),
 * sub (client or user), tenant, scope, client_id, jti, exp.
 */
export interface AccessTokenClaims {
  tenant: string;
  clientId: string;
  scope: string;
  sub: string;
  /** Expiry, seconds since the epoch (verified tokens only). */
  exp?: number;
  /** Issued at, seconds since the epoch (verified tokens only). */
  iat?: number;
  /** Token id (verified tokens only). */
  jti?: string;
  /** Person tokens (SMART App Launch): see access/context.ts for the meaning of each. */
  userId?: string;
  fhirUser?: string;
  roles?: string[];
  patient?: string;
  encounter?: string;
  purposeOfUse?: string;
  grantId?: string;
  /** Backend client tokens: the registered recipient organization ('Organization/<id>'). */
  organization?: string;
}

/** Optional person/launch claims (and a backend client's purpose and organization), carried under these JWT claim names. */
const PERSON_CLAIMS = [
  ['userId', 'uid'],
  ['fhirUser', 'fhirUser'],
  ['patient', 'patient'],
  ['encounter', 'encounter'],
  ['purposeOfUse', 'pou'],
  ['grantId', 'gid'],
  ['organization', 'org'],
] as const;

export async function issueAccessToken(
  keys: SigningKeys,
  issuer: string,
  audience: string,
  claims: AccessTokenClaims,
  ttlSeconds: number
): Promise<string> {
  const extra: Record<string, unknown> = {};
  for (const [field, claim] of PERSON_CLAIMS) if (claims[field] !== undefined) extra[claim] = claims[field];
  if (claims.roles?.length) extra.roles = claims.roles;
  return new SignJWT({ tenant: claims.tenant, scope: claims.scope, client_id: claims.clientId, ...extra })
    .setProtectedHeader({ alg: keys.current.alg, kid: keys.current.kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(claims.sub)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(keys.current.key);
}

/** Returns the claims of a valid token, or undefined for anything else (bad signature, expired, wrong audience). */
export async function verifyAccessToken(
  keys: SigningKeys,
  issuer: string,
  audience: string,
  token: string
): Promise<AccessTokenClaims | undefined> {
  try {
    const { kid } = decodeProtectedHeader(token);
    let k = kid ? keys.publicKeys.get(kid) : undefined;
    // A kid we do not know may be a key another process added by rotation: look once more.
    if (!k && kid && (await keys.reload?.())) k = keys.publicKeys.get(kid);
    if (!k) return undefined;
    const { payload } = await jwtVerify(token, k.key, { issuer, audience, typ: 'at+jwt', algorithms: [k.jwk.alg as string] });
    if (typeof payload.tenant !== 'string' || typeof payload.scope !== 'string' || typeof payload.client_id !== 'string') {
      return undefined;
    }
    const claims: AccessTokenClaims = {
      tenant: payload.tenant,
      scope: payload.scope,
      clientId: payload.client_id,
      sub: payload.sub ?? payload.client_id,
      exp: payload.exp,
      iat: payload.iat,
      jti: payload.jti,
    };
    for (const [field, claim] of PERSON_CLAIMS) if (typeof payload[claim] === 'string') claims[field] = payload[claim] as string;
    if (Array.isArray(payload.roles) && payload.roles.every((r) => typeof r === 'string')) claims.roles = payload.roles as string[];
    return claims;
  } catch {
    return undefined;
  }
}
