import pg from 'pg';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, type QueryOptions, type Queryable, type QueryResult, LOCK_WAIT_MS, MAX_TX_ATTEMPTS, isRetryable, retryDelayMs } from './database.ts';
import { shareSecretBox } from './secret-box.ts';

const names = new Map<string, string>();
/** A stable name per statement text; pg prepares it once per connection. */
function statementName(sql: string): string {
  let n = names.get(sql);
  if (!n) {
    n = 's' + createHash('sha1').update(sql).digest('hex').slice(0, 20);
    if (names.size < 5000) names.set(sql, n);
  }
  return n;
}

// Dates stay as text so `meta.lastUpdated` round-trips with the precision we wrote,
// and bigint counts come back as numbers (they never exceed 2^53 here).
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that errors (server restart) must not crash the process.
  pool.on('error', () => undefined);
  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
      const r = options?.prepare
        ? await c.query({ name: statementName(sql), text: sql, values: params as unknown[] })
        : await c.query(sql, params as unknown[]);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
  });
  const base = wrap(pool);
  const db: Database = {
    kind: 'postgres',
    query: base.query,
    async transaction(fn, options) {
      for (let attempt = 1; ; attempt++) {
        const { client, locked } = options?.lock ? await connectLocked(pool, options.lock) : { client: await pool.connect(), locked: false };
        let broken: Error | undefined;
        try {
          await client.query(options?.serializable ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
          const tx = wrap(client);
          shareSecretBox(db, tx);
          const result = await fn(tx);
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          if (attempt >= MAX_TX_ATTEMPTS || !isRetryable(err)) throw err;
        } finally {
          if (locked) {
            // A session lock outlives the transaction: a connection that cannot drop it is closed.
            await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [options?.lock]).catch((err: Error) => (broken = err));
          }
          client.release(broken);
        }
        // Off the connection while waiting: the winner may need one from the pool to finish.
        await sleep(retryDelayMs(attempt));
      }
    },
    // Idempotent: a test's teardown and Server.close may both close it.
    close: once(() => pool.end()),
  };
  return db;
}

/**
 * A pool client holding the session advisory lock named `name` (TransactionSettings.lock), or
 * after LOCK_WAIT_MS one without it. Polls with pg_try_advisory_lock rather than waiting in
 * pg_advisory_lock, so waiters hold no connection: the holder may need one from the pool.
 */
async function connectLocked(pool: pg.Pool, name: string): Promise<{ client: pg.PoolClient; locked: boolean }> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let window = 2; ; window = Math.min(window * 2, 50)) {
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [name]);
      if (rows[0].ok || Date.now() >= deadline) return { client, locked: rows[0].ok };
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    client.release();
    await sleep(1 + Math.random() * window);
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
