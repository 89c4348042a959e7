import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';
import type { AppUser } from '../users/index.ts';
import type { PendingRequest } from './request-store.ts';

/**
 * The authorization code (RFC 6749 §4.1.2): 32 random bytes, base64url; stored only as its
 * sha256 (base64url) in `authorization_code.code_hash`. §4.1.2: "A maximum authorization code
 * lifetime of 10 minutes is RECOMMENDED"; ours lives 60 seconds and the token endpoint (the back
 * channel) enforces single use. `context` is what the token response carries beside the token.
 */
export const CODE_SECONDS = 60;

export interface CodeContext {
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  need_patient_banner: boolean;
  smart_style_url: string;
  fhirUser: string;
  roles: string[];
  userId: string;
  nonce?: string;
  /** When the person authenticated, seconds since the epoch (OpenID Connect auth_time). */
  auth_time: number;
  /** The login session, so online_access refresh tokens end with it (session/isSessionActive). */
  sessionId: string;
}

export async function issueCode(
  db: Queryable,
  o: { request: PendingRequest; user: AppUser; scopes: string[]; context: CodeContext }
): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  const codeHash = createHash('sha256').update(code).digest('base64url');
  await db.query(
    `INSERT INTO authorization_code (code_hash, tenant, client_id, user_id, redirect_uri, scope, code_challenge, context, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))`,
    [codeHash, o.request.tenant, o.request.clientId, o.user.id, o.request.redirectUri, o.scopes.join(' '), o.request.codeChallenge, JSON.stringify(o.context), CODE_SECONDS]
  );
  return code;
}

export function codeRedirect(redirectUri: string, code: string, state: string | undefined): string {
  const url = new URL(redirectUri);
  url.searchParams.set('code', code);
  if (state !== undefined) url.searchParams.set('state', state);
  return url.toString();
}
