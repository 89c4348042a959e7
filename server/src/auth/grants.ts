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
  /** When the grant was made (the sign-in), ms since the epoch: an offline grant's absolute lifetime counts from here. */
  created_ms: number;
}

const GRANT_COLUMNS = `g.tenant, g.id, g.client_id, g.user_id, g.scope, g.context, g.access_type, g.session_id,
  g.revoked_at::text AS revoked_at, (extract(epoch FROM g.created_at) * 1000)::float8 AS created_ms`;

function grantOf(row: GrantRow): GrantRow {
  if (typeof row.context === 'string') row.context = JSON.parse(row.context) as GrantContext;
  row.created_ms = Number(row.created_ms);
  return row;
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
  g: { tenant: string; clientId: string; userId: string; codeHash: string; scope: string; context: GrantContext; sessionId?: string; createdAt: Date }
): Promise<string> {
  const id = randomUUID();
  // Expired refresh tokens are useless (a replay of one is refused as unknown): purge them here,
  // by the expiry index, rather than in a separate job.
  await q.query("DELETE FROM refresh_token WHERE expires_at < now() - interval '1 day'");
  await q.query(
    `INSERT INTO token_grant (tenant, id, client_id, user_id, code_hash, scope, context, access_type, session_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [g.tenant, id, g.clientId, g.userId, g.codeHash, g.scope, JSON.stringify(g.context), accessTypeOf(g.scope), g.sessionId ?? null, g.createdAt.toISOString()]
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
  const r = await q.query<GrantRow & { token_hash: string; refresh_scope: string; expired: boolean; used: boolean }>(
    `SELECT r.token_hash, r.scope AS refresh_scope, r.expires_at <= now() AS expired, r.used_at IS NOT NULL AS used, ${GRANT_COLUMNS}
       FROM refresh_token r JOIN token_grant g ON g.id = r.grant_id
      WHERE r.token_hash = $1`,
    [sha256(token)]
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const { token_hash, refresh_scope, expired, used, ...grant } = row;
  return { refresh: { token_hash, grant_id: grant.id, scope: refresh_scope, expired, used }, grant: grantOf(grant) };
}

/**
 * Marks a refresh token used, atomically: the id of the grant it belongs to now (a role change
 * may have moved it to a successor grant while the caller was checking), or undefined when it
 * was already used (a replay).
 */
export async function useRefreshToken(q: Queryable, tokenHash: string): Promise<string | undefined> {
  const r = await q.query<{ grant_id: string }>('UPDATE refresh_token SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL RETURNING grant_id', [tokenHash]);
  return r.rows[0]?.grant_id;
}

export async function findGrant(q: Queryable, id: string): Promise<GrantRow | undefined> {
  const r = await q.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM token_grant g WHERE g.id = $1`, [id]);
  return r.rows[0] && grantOf(r.rows[0]);
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
  await recordRevoked(db, tenant, ids);
  await more(db);
  await announceRevocation(db, ids);
}

/** Writes revocation records (kept for the longest access-token lifetime); the caller announces them. */
async function recordRevoked(db: Queryable, tenant: string, ids: string[]): Promise<void> {
  await db.query('DELETE FROM revoked_token WHERE expires_at < now()');
  if (ids.length === 0) return;
  await db.query(
    `INSERT INTO revoked_token (id, tenant, expires_at)
     SELECT id, $2, now() + make_interval(secs => $3) FROM unnest($1::text[]) AS id
     ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
    [ids, tenant, MAX_ACCESS_TOKEN_SECONDS + REVOCATION_MARGIN_S]
  );
}

/*
 * Offboarding (users/account-admin.ts) changes a user and their grants in one transaction, and
 * only after it commits announces the revoked ids (announceRevocation): announcing earlier would
 * let a request arriving between the two re-cache a token the database does not yet call revoked.
 */

/** A disabled account: every grant of the user is revoked, refresh tokens and access tokens alike. Returns the ids to announce. */
export async function revokeGrantsOfUser(tx: Queryable, tenant: string, userId: string): Promise<string[]> {
  const r = await tx.query<{ id: string }>(
    'UPDATE token_grant SET revoked_at = now() WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id',
    [tenant, userId]
  );
  const ids = r.rows.map((g) => g.id);
  if (ids.length) await tx.query('UPDATE refresh_token SET used_at = coalesce(used_at, now()) WHERE grant_id = ANY($1::text[])', [ids]);
  await recordRevoked(tx, tenant, ids);
  return ids;
}

/**
 * A role change: the access tokens issued so far carry the old roles in their claims, so each live
 * grant's id is revoked (they stop working at once), while its refresh tokens move to a successor
 * grant with the same client, scope, context and sign-in time. The next refresh then reads the
 * user's current roles; a reused refresh token still revokes the (successor) family. Returns the
 * revoked ids to announce.
 */
export async function supersedeGrantsOfUser(tx: Queryable, tenant: string, userId: string): Promise<string[]> {
  const live = await tx.query<{ id: string }>(
    'SELECT id FROM token_grant WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL ORDER BY id FOR UPDATE',
    [tenant, userId]
  );
  const ids = live.rows.map((g) => g.id);
  for (const id of ids) {
    const successor = randomUUID();
    await tx.query(
      `INSERT INTO token_grant (tenant, id, client_id, user_id, code_hash, scope, context, access_type, session_id, created_at)
       SELECT tenant, $2, client_id, user_id, code_hash, scope, context, access_type, session_id, created_at FROM token_grant WHERE id = $1`,
      [id, successor]
    );
    await tx.query('UPDATE refresh_token SET grant_id = $2 WHERE grant_id = $1', [id, successor]);
    await tx.query('UPDATE token_grant SET revoked_at = now() WHERE id = $1', [id]);
  }
  await recordRevoked(tx, tenant, ids);
  return ids;
}

/** One primary-key lookup: is this grant (or token id) revoked? */
export async function isRevoked(q: Queryable, grantId: string | undefined, jti: string | undefined): Promise<boolean> {
  const ids = [grantId, jti].filter((x): x is string => Boolean(x));
  if (ids.length === 0) return false;
  const r = await q.query('SELECT 1 FROM revoked_token WHERE id = ANY($1::text[]) AND expires_at > now() LIMIT 1', [ids], { prepare: true });
  return r.rows.length > 0;
}
