import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';
import type { LaunchContext } from '../launch/index.ts';

/**
 * An authorization request between its checks (client, redirect, PKCE, aud, scope, launch) and
 * the code: the browser carries only its random id through login, picker and consent. It lives
 * 10 minutes, is bound to the first user who continues it, and is deleted when it ends.
 */
export interface PendingRequest {
  id: string;
  tenant: string;
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  /** Scopes after the client check; the person's kind narrows them later. */
  scopes: string[];
  codeChallenge: string;
  nonce: string | undefined;
  /** EHR launch context, when the request came with `launch`. */
  launch: LaunchContext | undefined;
  userId: string | undefined;
  patient: string | undefined;
}

export const REQUEST_SECONDS = 600;
export const REQUEST_ID = /^[A-Za-z0-9_-]{32}$/;

type Stored = Pick<PendingRequest, 'redirectUri' | 'state' | 'scopes' | 'codeChallenge' | 'nonce' | 'launch'>;

export async function saveRequest(db: Queryable, r: Omit<PendingRequest, 'id' | 'userId' | 'patient'>): Promise<string> {
  // Housekeeping: requests never finished (abandoned logins) are removed an hour after they expire.
  await db.query(`DELETE FROM authorize_request WHERE expires_at < now() - interval '1 hour'`);
  const id = randomBytes(24).toString('base64url');
  const params: Stored = { redirectUri: r.redirectUri, state: r.state, scopes: r.scopes, codeChallenge: r.codeChallenge, nonce: r.nonce, launch: r.launch };
  await db.query(
    `INSERT INTO authorize_request (tenant, id, client_id, params, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [r.tenant, id, r.clientId, JSON.stringify(params), REQUEST_SECONDS]
  );
  return id;
}

export async function loadRequest(db: Queryable, id: unknown): Promise<PendingRequest | undefined> {
  if (typeof id !== 'string' || !REQUEST_ID.test(id)) return undefined;
  const r = await db.query<{ tenant: string; id: string; client_id: string; params: Stored | string; user_id: string | null; patient: string | null }>(
    'SELECT tenant, id, client_id, params, user_id, patient FROM authorize_request WHERE id = $1 AND expires_at > now()',
    [id]
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const p = typeof row.params === 'string' ? (JSON.parse(row.params) as Stored) : row.params;
  return { id: row.id, tenant: row.tenant, clientId: row.client_id, ...p, userId: row.user_id ?? undefined, patient: row.patient ?? undefined };
}

/** Binds the request to the user continuing it; false if another user already took it. */
export async function bindUser(db: Queryable, req: PendingRequest, userId: string): Promise<boolean> {
  if (req.userId) return req.userId === userId;
  const r = await db.query('UPDATE authorize_request SET user_id = $2 WHERE id = $1 AND user_id IS NULL RETURNING 1', [req.id, userId]);
  req.userId = userId;
  return r.rows.length === 1;
}

export async function setPatient(db: Queryable, id: string, patient: string): Promise<void> {
  await db.query('UPDATE authorize_request SET patient = $2 WHERE id = $1', [id, patient]);
}

export async function deleteRequest(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query('DELETE FROM authorize_request WHERE id = $1 RETURNING 1', [id]);
  return r.rows.length === 1;
}
