import type { Queryable } from '../../db/database.ts';
import { InvalidClient } from '../errors.ts';
import { type AuthenticatedClient, CLOCK_SKEW_S } from './verify-client-assertion.ts';

/**
 * Step 5: refuse a replayed assertion. SMART client-confidential-asymmetric: the server SHALL
 * "check that the jti value has not been previously encountered for the given iss within the
 * maximum allowed authentication JWT lifetime". RFC 7523 §3 item 7 allows exactly this.
 * The jti is kept in the shared database (not in memory) so every server node sees it, and only
 * until the assertion would have expired anyway (plus clock skew); older rows are purged here.
 * Runs after signature verification, so nobody can burn another client's jti values.
 */
export async function checkReplay(db: Queryable, authenticated: AuthenticatedClient, nowMs: number): Promise<void> {
  const now = nowMs / 1000;
  await db.query('DELETE FROM used_jti WHERE expires_at < to_timestamp($1)', [now]);
  const r = await db.query(
    `INSERT INTO used_jti (client_id, jti, expires_at) VALUES ($1, $2, to_timestamp($3))
     ON CONFLICT (client_id, jti) DO NOTHING RETURNING jti`,
    [authenticated.client.id, authenticated.jti, authenticated.exp + CLOCK_SKEW_S]
  );
  if (r.rows.length === 0) throw new InvalidClient('client_assertion jti has already been used');
}
