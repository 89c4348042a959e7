import pg from 'pg';
import type { Queryable } from '../db/database.ts';
import { log } from '../log.ts';

/**
 * A revoked token must stop working at once on every server process (RFC 7009 §2: "the
 * revocation request ... takes effect immediately"), yet each process caches verified tokens
 * for up to a minute (auth/index.ts). So a revocation is announced:
 * - in this process, by calling the local listeners directly;
 * - to the other processes (PostgreSQL only: PGlite lives in one process), by NOTIFY on the
 *   channel below, which each process LISTENs to through one dedicated connection.
 * The database table (revoked_token) stays the source of truth; this only clears caches.
 */
export const CHANNEL = 'auth_token_revoked';

type Listener = (ids: string[]) => void;
const listeners = new Set<Listener>();

export function onRevocation(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function dispatch(ids: string[]): void {
  for (const l of listeners) l(ids);
}

export async function announceRevocation(db: Queryable & { kind?: string }, ids: string[]): Promise<void> {
  dispatch(ids);
  if (db.kind === 'pglite') return;
  try {
    // Ids are UUIDs or jtis: well under the 8000-byte NOTIFY payload limit.
    await db.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(ids)]);
  } catch {
    // PGlite through a transaction handle, or no NOTIFY support: this process has already been told.
  }
}

/**
 * LISTENs on a dedicated connection (reconnecting with backoff) and dispatches what other
 * processes announce. Returns a function that stops listening.
 */
export function listenForRevocations(databaseUrl: string): () => Promise<void> {
  let client: pg.Client | undefined;
  let stopped = false;
  let delay = 500;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on('error', () => undefined);
    c.on('end', () => {
      if (!stopped) setTimeout(() => void connect(), delay).unref();
      delay = Math.min(delay * 2, 30_000);
    });
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        const ids = JSON.parse(n.payload) as unknown;
        if (Array.isArray(ids)) dispatch(ids.filter((x): x is string => typeof x === 'string'));
      } catch {
        // not ours
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      client = c;
      delay = 500;
    } catch {
      log.error('revocation listener could not connect; retrying');
      await c.end().catch(() => undefined);
    }
  };
  void connect();
  return async () => {
    stopped = true;
    await client?.end().catch(() => undefined);
  };
}
