import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The client side of SMART Backend Services, for people trying the API with curl: make a key
 * pair, and trade a signed client assertion for an access token. Nothing here touches the
 * database; the server sees exactly what any other backend client would send it.
 */
export async function generateClientKey(privatePath: string): Promise<{ publicJwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  const priv = { ...(await exportJWK(privateKey)), kid, alg: 'ES384' };
  mkdirSync(dirname(privatePath), { recursive: true });
  writeFileSync(privatePath, JSON.stringify(priv, null, 2) + '\n', { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  return { publicJwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' }] } };
}

/** A client's signing key: a private JWK as stored on disk, or a key already imported. */
export type ClientKey = { jwk: JWK } | { key: CryptoKey; kid: string; alg: string };

export async function requestToken(options: { baseUrl: string; clientId: string; key: ClientKey; scope: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const tokenUrl = `${options.baseUrl.replace(/\/$/, '')}/auth/token`;
  let alg: string;
  let kid: string | undefined;
  let key: CryptoKey | Uint8Array;
  if ('jwk' in options.key) {
    alg = options.key.jwk.alg ?? (options.key.jwk.kty === 'RSA' ? 'RS384' : 'ES384');
    kid = options.key.jwk.kid;
    key = await importJWK(options.key.jwk, alg);
  } else {
    ({ alg, kid, key } = options.key);
  }
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(options.clientId)
    .setSubject(options.clientId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('4m')
    .sign(key);
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: options.scope,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
