import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../../server/src/db/database.ts';

/**
 * Helpers for the SMART back-channel tests. `mintCode` stands in for /auth/authorize: it writes
 * an authorization_code row exactly as the authorize endpoint does (migration 003), so the token
 * endpoint can be tested on its own; the full browser flow is tested in smart-launch-e2e.test.ts.
 */
export const b64url = (b: Buffer) => b.toString('base64url');
export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
export const newVerifier = () => b64url(randomBytes(32));

export interface MintCode {
  tenant: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string;
  context?: Record<string, unknown>;
  /** Seconds until expiry; negative for an expired code. */
  expiresIn?: number;
}

export async function mintCode(db: Queryable, m: MintCode): Promise<string> {
  const code = b64url(randomBytes(32));
  await db.query(
    `INSERT INTO authorization_code (code_hash, tenant, client_id, user_id, redirect_uri, scope, code_challenge, context, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))`,
    [s256(code), m.tenant, m.clientId, m.userId, m.redirectUri, m.scope, m.codeChallenge, JSON.stringify(m.context ?? {}), m.expiresIn ?? 60]
  );
  return code;
}

export async function postForm(url: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
export function basic(id: string, secret: string): Record<string, string> {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` };
}

export async function expectOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== status || body.error !== error) throw new Error(`expected ${status} ${error}, got ${res.status} ${JSON.stringify(body)}`);
  if (res.headers.get('cache-control') !== 'no-store') throw new Error('missing Cache-Control: no-store');
  return body;
}
