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
}

export async function issueAccessToken(
  keys: SigningKeys,
  issuer: string,
  audience: string,
  claims: AccessTokenClaims,
  ttlSeconds: number
): Promise<string> {
  return new SignJWT({ tenant: claims.tenant, scope: claims.scope, client_id: claims.clientId })
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
    const k = kid ? keys.publicKeys.get(kid) : undefined;
    if (!k) return undefined;
    const { payload } = await jwtVerify(token, k.key, { issuer, audience, typ: 'at+jwt', algorithms: [k.jwk.alg as string] });
    if (typeof payload.tenant !== 'string' || typeof payload.scope !== 'string' || typeof payload.client_id !== 'string') {
      return undefined;
    }
    return { tenant: payload.tenant, scope: payload.scope, clientId: payload.client_id, sub: payload.sub ?? payload.client_id, exp: payload.exp };
  } catch {
    return undefined;
  }
}
