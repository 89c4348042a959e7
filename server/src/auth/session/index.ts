import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Config } from '../../config.ts';
import type { Queryable } from '../../db/database.ts';
import { secretBoxOf, secretContext } from '../../db/secret-box.ts';

/**
 * Browser sessions of people logged in to the authorization server (table user_session).
 * The cookie carries 32 random bytes; the database keeps only their sha256, so a leaked table
 * does not yield live sessions. A new value is issued at login (no session fixation).
 * Lifetimes (OWASP Session Management): idle timeout `config.sessionIdleSeconds` (default 15 min)
 * and an absolute lifetime `config.sessionMaxSeconds` (default 12 h).
 */
export const COOKIE = 'smart_session';

export type SessionStage = 'mfa' | 'enrol' | 'active';

export interface Session {
  id: string;
  tenant: string;
  userId: string;
  stage: SessionStage;
  pendingTotpSecret: string | undefined;
  /** When the person authenticated (seconds since the epoch), for id_token auth_time. */
  authTime: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

export function cookieValue(req: Request): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

function setCookie(res: Response, config: Config, value: string): void {
  // HttpOnly: no script reads it; SameSite=Lax: not sent on cross-site POSTs (CSRF defence in
  // depth beside the token); Path=/auth: never sent to the FHIR API; Secure behind https.
  const secure = config.baseUrl.startsWith('https:') ? '; Secure' : '';
  res.append('Set-Cookie', `${COOKIE}=${value}; HttpOnly; SameSite=Lax; Path=/auth${secure}`);
}

export function clearCookie(res: Response, config: Config): void {
  const secure = config.baseUrl.startsWith('https:') ? '; Secure' : '';
  res.append('Set-Cookie', `${COOKIE}=; HttpOnly; SameSite=Lax; Path=/auth; Max-Age=0${secure}`);
}

/**
 * The cookie value for this browser, creating a pre-session one when there is none: every form
 * needs a value to bind its CSRF token to, before anyone has logged in.
 */
export function ensureCookie(req: Request, res: Response, config: Config): string {
  const existing = cookieValue(req);
  if (existing) return existing;
  const value = randomBytes(32).toString('base64url');
  setCookie(res, config, value);
  // Later reads in this request see the new value.
  req.headers.cookie = `${COOKIE}=${value}`;
  return value;
}

/**
 * CSRF token (OWASP "signed double submit" variant): a hash of the session cookie, which a
 * cross-site page can neither read nor compute. Changes whenever the cookie does.
 */
export function csrfToken(cookie: string): string {
  return sha256(`csrf\0${cookie}`);
}

export function checkCsrf(req: Request): boolean {
  const cookie = cookieValue(req);
  const sent = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (!cookie || typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(csrfToken(cookie));
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The TOTP secret shown at enrolment, encrypted like the enrolled one (auth/users). */
const pendingContext = (sessionId: string) => secretContext('user_session', 'pending_totp_secret', sessionId);

interface SessionRow {
  id: string;
  tenant: string;
  user_id: string;
  stage: SessionStage;
  pending_totp_secret: string | null;
  auth_time: number | null;
  live: boolean;
}

/** The session of this browser if it exists, has not ended, and is within both lifetimes. */
export async function loadSession(db: Queryable, config: Config, req: Request): Promise<Session | undefined> {
  const cookie = cookieValue(req);
  if (!cookie) return undefined;
  const r = await db.query<SessionRow>(
    `SELECT id, tenant, user_id, stage, pending_totp_secret, extract(epoch FROM auth_time)::bigint AS auth_time,
       (last_seen_at > now() - make_interval(secs => $2) AND expires_at > now()) AS live
     FROM user_session WHERE cookie_hash = $1 AND ended_at IS NULL`,
    [sha256(cookie), config.sessionIdleSeconds]
  );
  const row = r.rows[0];
  if (!row) return undefined;
  if (!row.live) {
    await endSession(db, row.id);
    return undefined;
  }
  await db.query('UPDATE user_session SET last_seen_at = now() WHERE id = $1', [row.id]);
  return {
    id: row.id,
    tenant: row.tenant,
    userId: row.user_id,
    stage: row.stage,
    pendingTotpSecret: row.pending_totp_secret ? secretBoxOf(db).open(row.pending_totp_secret, pendingContext(row.id)) : undefined,
    authTime: Number(row.auth_time ?? 0),
  };
}

/** Starts a session after a correct password, under a new cookie value (any old session ends). */
export async function startSession(
  db: Queryable,
  config: Config,
  req: Request,
  res: Response,
  s: { tenant: string; userId: string; stage: SessionStage; pendingTotpSecret?: string }
): Promise<Session> {
  const old = cookieValue(req);
  if (old) await db.query('UPDATE user_session SET ended_at = now() WHERE cookie_hash = $1 AND ended_at IS NULL', [sha256(old)]);
  // Housekeeping: this user's sessions that ended or expired more than a day ago.
  await db.query(
    `DELETE FROM user_session WHERE tenant = $1 AND user_id = $2 AND (ended_at < now() - interval '1 day' OR expires_at < now() - interval '1 day')`,
    [s.tenant, s.userId]
  );
  const value = randomBytes(32).toString('base64url');
  const id = randomUUID();
  await db.query(
    `INSERT INTO user_session (tenant, id, cookie_hash, user_id, stage, pending_totp_secret, auth_time, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'active' THEN now() END, now() + make_interval(secs => $7))`,
    [s.tenant, id, sha256(value), s.userId, s.stage, s.pendingTotpSecret ? secretBoxOf(db).seal(s.pendingTotpSecret, pendingContext(id)) : null, config.sessionMaxSeconds]
  );
  setCookie(res, config, value);
  req.headers.cookie = `${COOKIE}=${value}`;
  const authTime = Math.floor(Date.now() / 1000);
  return { id, tenant: s.tenant, userId: s.userId, stage: s.stage, pendingTotpSecret: s.pendingTotpSecret, authTime };
}

/** The second factor is done (or enrolled): the session becomes active; auth_time is now. */
export async function activateSession(db: Queryable, sessionId: string): Promise<void> {
  await db.query(`UPDATE user_session SET stage = 'active', pending_totp_secret = NULL, auth_time = now() WHERE id = $1`, [sessionId]);
}

/** Ends every browser session of one user (a disabled account). */
export async function endSessionsOfUser(db: Queryable, tenant: string, userId: string): Promise<void> {
  await db.query('UPDATE user_session SET ended_at = now() WHERE tenant = $1 AND user_id = $2 AND ended_at IS NULL', [tenant, userId]);
}

export async function endSession(db: Queryable, sessionId: string): Promise<void> {
  await db.query('UPDATE user_session SET ended_at = now() WHERE id = $1 AND ended_at IS NULL', [sessionId]);
}

/**
 * For the back channel: is the session an `online_access` grant was issued under still live
 * (active, not logged out, within idle and absolute lifetimes)? Idle time is counted with the
 * default idle timeout unless given.
 */
export async function isSessionActive(db: Queryable, sessionId: string, idleSeconds: number = DEFAULT_IDLE_SECONDS): Promise<boolean> {
  const r = await db.query(
    `SELECT 1 FROM user_session WHERE id = $1 AND stage = 'active' AND ended_at IS NULL
       AND last_seen_at > now() - make_interval(secs => $2) AND expires_at > now()`,
    [sessionId, idleSeconds]
  );
  return r.rows.length === 1;
}

export const DEFAULT_IDLE_SECONDS = 15 * 60;
