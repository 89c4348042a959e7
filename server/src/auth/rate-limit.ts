import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';

/**
 * Fixed-window request counters kept in the database (migration 017), so a limit holds across
 * every server process and node behind a load balancer, and across restarts. A key's window
 * starts at its first request, so no two keys' windows roll over at the same moment. Each hit is one statement; ended windows are swept at most once a
 * window per limit.
 * Used for the back channel (token, introspection, revocation, registration) and the sign-in
 * throttles (session/login-routes.ts).
 */
export class RateLimit {
  private readonly db: Queryable;
  private readonly bucket: string;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  /** `bucket` names the limit (one table holds them all); limit 0 turns it off. */
  constructor(db: Queryable, bucket: string, limit: number, windowMs: number, now: () => number = Date.now) {
    this.db = db;
    this.bucket = bucket;
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Counts one request for key; resolves to the seconds to wait when over the limit, else 0. */
  async hit(key: string): Promise<number> {
    if (this.limit <= 0) return 0;
    const now = this.now();
    // A window that has ended is replaced in the same statement, so concurrent hits from any
    // process agree on one count (the row is locked by ON CONFLICT).
    const { rows } = await this.db.query<{ count: number; expires_at: string | number }>(
      `INSERT INTO rate_limit_window AS w (bucket, key, expires_at, count) VALUES ($1, $2, $3::bigint + $4::bigint, 1)
       ON CONFLICT (bucket, key) DO UPDATE SET
         count = CASE WHEN w.expires_at <= $3::bigint THEN 1 ELSE w.count + 1 END,
         expires_at = CASE WHEN w.expires_at <= $3::bigint THEN EXCLUDED.expires_at ELSE w.expires_at END
       RETURNING count, expires_at`,
      [this.bucket, digest(key), now, this.windowMs],
      { prepare: true }
    );
    this.sweep(now);
    const { count, expires_at } = rows[0];
    return count > this.limit ? Math.max(1, Math.ceil((Number(expires_at) - now) / 1000)) : 0;
  }

  /** Drops this bucket's ended windows, in the background: a failed sweep is retried next window. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    Promise.resolve()
      .then(() => this.db.query('DELETE FROM rate_limit_window WHERE bucket = $1 AND expires_at <= $2', [this.bucket, now]))
      .catch(() => undefined);
  }
}

/** Addresses and typed usernames (people type passwords there) are kept only as digests. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
