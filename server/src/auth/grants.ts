import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';
import { announceRevocation } from './revocation-channel.ts';

/**
 * Grants and refresh tokens (migration 005). A grant is one authorization-code exchange and the
 * family of every token issued from it; revoking the grant ends them all:
 * - its refresh tokens are marked used (a refresh then fails),
 * - its id goes into revoked_token so `authenticate()` refuses its access tokens, and every
 *   server process drops them from its cache (revocation-channel.ts).
 */
export type AccessType = 'offline' | 'online' | 'none';

export interface GrantRow {
  tenant: string;
  id: string;
  client_id: string;
  user_id: string;
  scope: string;
  context: GrantContext;
  access_type: AccessType;
  session_id: string | null;
  revoked_at: string | null;
}

/** The code row's context (migration 003), decided at /authorize. */
export interface GrantContext {
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
  fhirUser?: string;
  roles?: string[];
  userId?: string;
  nonce?: string;
  auth_time?: number;
  sessionId?: string;
}

/** Longest access-token lifetime we issue (seconds); a revocation record must outlive it. */
export const MAX_ACCESS_TOKEN_SECONDS = 3600;
const REVOCATION_MARGIN_S = 120;

/** sha256, base64url: how codes and refresh tokens are stored and looked up. */
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url');

export function accessTypeOf(scope: string): AccessType {
  const parts = scope.split(' ');
  if (parts.includes('offline_access')) return 'offline';
  if (parts.includes('online_access')) return 'online';
  return 'none';
}

export async function createGrant(
  q: Queryable,
  g: { tenant: string; clientId: string; userId: string; codeHash: string; scope: string; context: GrantContext; sessionId?: string }
): Promise<string> {
  const id = randomUUID();
  // Expired refresh tokens are useless (a replay of one is refused as unknown): purge them here,
  // by the expiry index, rather than in a separate job.
  await q.query("DELETE FROM refresh_token WHERE expires_at < now() - interval '1 day'");
  await q.query(
    `INSERT INTO token_grant (tenant, id, client_id, user_id, code_hash, scope, context, access_type, session_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [g.tenant, id, g.clientId, g.userId, g.codeHash, g.scope, JSON.stringify(g.context), accessTypeOf(g.scope), g.sessionId ?? null]
  );
  return id;
}

/** A new opaque refresh token (32 random bytes) in the grant's family; only its hash is stored. */
export async function issueRefreshToken(q: Queryable, grant: { tenant: string; id: string }, scope: string, ttlSeconds: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await q.query(
    `INSERT INTO refresh_token (token_hash, tenant, grant_id, scope, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [sha256(token), grant.tenant, grant.id, scope, ttlSeconds]
  );
  return token;
}

export interface RefreshRow {
  token_hash: string;
  grant_id: string;
  scope: string;
  expired: boolean;
  used: boolean;
}

export async function findRefreshToken(q: Queryable, token: string): Promise<{ refresh: RefreshRow; grant: GrantRow } | undefined> {
  const r = await q.query<RefreshRow & { g: GrantRow }>(
    `SELECT r.token_hash, r.grant_id, r.scope, r.expires_at <= now() AS expired, r.used_at IS NOT NULL AS used,
            row_to_json(g) AS g
       FROM refresh_token r JOIN token_grant g ON g.id = r.grant_id
      WHERE r.token_hash = $1`,
    [sha256(token)]
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const g = typeof row.g === 'string' ? (JSON.parse(row.g) as GrantRow) : row.g;
  if (typeof g.context === 'string') g.context = JSON.parse(g.context) as GrantContext;
  const { g: _g, ...refresh } = row;
  return { refresh, grant: g };
}

/** Marks a refresh token used, atomically: false when it already was (a replay). */
export async function useRefreshToken(q: Queryable, tokenHash: string): Promise<boolean> {
  const r = await q.query('UPDATE refresh_token SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL RETURNING token_hash', [tokenHash]);
  return r.rows.length > 0;
}

export async function findGrant(q: Queryable, id: string): Promise<GrantRow | undefined> {
  const r = await q.query<GrantRow>(
    'SELECT tenant, id, client_id, user_id, scope, context, access_type, session_id, revoked_at::text AS revoked_at FROM token_grant WHERE id = $1',
    [id]
  );
  const g = r.rows[0];
  if (g && typeof g.context === 'string') g.context = JSON.parse(g.context) as GrantContext;
  return g;
}

/**
 * Revokes a grant and everything issued from it. Idempotent. Every process learns it at once:
 * this one directly, the others by NOTIFY (PostgreSQL) — see revocation-channel.ts.
 */
export async function revokeGrant(db: Database | Queryable, tenant: string, grantId: string): Promise<void> {
  await revokeIds(db, tenant, [grantId], async (q) => {
    await q.query('UPDATE token_grant SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1', [grantId]);
    await q.query('UPDATE refresh_token SET used_at = coalesce(used_at, now()) WHERE grant_id = $1', [grantId]);
  });
}

/** Revokes every grant issued from one authorization code (RFC 6749 §4.1.2: a code used twice). */
export async function revokeGrantsOfCode(db: Database | Queryable, codeHash: string): Promise<number> {
  const r = await db.query<{ tenant: string; id: string }>('SELECT tenant, id FROM token_grant WHERE code_hash = $1', [codeHash]);
  for (const g of r.rows) await revokeGrant(db, g.tenant, g.id);
  return r.rows.length;
}

/** Revokes one access token by its jti (a system token, which has no grant). */
export async function revokeTokenId(db: Database | Queryable, tenant: string, jti: string): Promise<void> {
  await revokeIds(db, tenant, [jti], async () => undefined);
}

async function revokeIds(db: Queryable, tenant: string, ids: string[], more: (q: Queryable) => Promise<void>): Promise<void> {
  await db.query('DELETE FROM revoked_token WHERE expires_at < now()');
  for (const id of ids) {
    await db.query(
      `INSERT INTO revoked_token (id, tenant, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      [id, tenant, MAX_ACCESS_TOKEN_SECONDS + REVOCATION_MARGIN_S]
    );
  }
  await more(db);
  await announceRevocation(db, ids);
}

/** One primary-key lookup: is this grant (or token id) revoked? */
export async function isRevoked(q: Queryable, grantId: string | undefined, jti: string | undefined): Promise<boolean> {
  const ids = [grantId, jti].filter((x): x is string => Boolean(x));
  if (ids.length === 0) return false;
  const r = await q.query('SELECT 1 FROM revoked_token WHERE id = ANY($1::text[]) AND expires_at > now() LIMIT 1', [ids], { prepare: true });
  return r.rows.length > 0;
}
