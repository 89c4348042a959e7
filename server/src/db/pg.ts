import { OperationOutcomeError } from '@medplum/core';
import pg from 'pg';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, type QueryOptions, type Queryable, type QueryResult, type Statement, LOCK_WAIT_MS, retryingTransaction } from './database.ts';
import { RequestGone, checkSignal, isQueryCanceled, statementTimedOut } from './request-scope.ts';
import { StatementBatch } from './pg-batch.ts';
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

/**
 * Every statement runs on a connection taken from the pool for it (or for its transaction), so
 * that (a) the connection carries the statement timeout the server asked for, set on it once
 * (`SET statement_timeout`, redone only when the wanted value changes: no extra round trip per
 * statement), and (b) a request's statement can be cancelled while it runs when the client goes
 * away (`forRequest`): `pg_cancel_backend` of exactly that connection's backend, sent from a
 * connection of its own so a pool busy with long statements cannot hold it up. A connection
 * whose backend was sent a cancel is closed rather than reused, so a cancel that arrives late
 * can never stop the next user's statement.
 */
export async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that errors (server restart) must not crash the process.
  pool.on('error', () => undefined);
  let timeoutMs = 0;
  /** The statement_timeout each connection has (none recorded: the database's own default). */
  const applied = new WeakMap<pg.PoolClient, number>();

  const checkout = async (wantMs: number): Promise<pg.PoolClient> => {
    const c = await pool.connect();
    if ((applied.get(c) ?? 0) !== wantMs) {
      try {
        await c.query(`SET statement_timeout = ${Math.trunc(wantMs)}`);
      } catch (err) {
        c.release(true);
        throw err;
      }
      applied.set(c, wantMs);
    }
    return c;
  };

  const cancelBackend = async (pid: number): Promise<void> => {
    const admin = new pg.Client({ connectionString: url });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      await admin.query('SELECT pg_cancel_backend($1)', [pid]);
    } finally {
      await admin.end().catch(() => undefined);
    }
  };

  /**
   * A connection holding the session advisory lock named `lock` (TransactionSettings.lock), or
   * after LOCK_WAIT_MS one without it. Polls with pg_try_advisory_lock rather than waiting in
   * pg_advisory_lock, so waiters hold no connection: the holder may need one from the pool.
   */
  const checkoutLocked = async (wantMs: number, lock: string, signal?: AbortSignal): Promise<{ c: pg.PoolClient; locked: boolean }> => {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let window = 2; ; window = Math.min(window * 2, 50)) {
      checkSignal(signal);
      const c = await checkout(wantMs);
      try {
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [lock]);
        if (rows[0].ok || Date.now() >= deadline) return { c, locked: rows[0].ok };
      } catch (err) {
        c.release(true);
        throw err;
      }
      c.release();
      await sleep(1 + Math.random() * window);
    }
  };

  /**
   * Runs fn on one connection; with a signal, cancels its statement when the signal aborts; with
   * a lock name, holds that session advisory lock around fn (checkoutLocked).
   */
  const withClient = async <T>(fn: (c: pg.PoolClient) => Promise<T>, signal?: AbortSignal, wantMs = timeoutMs, lock?: string): Promise<T> => {
    checkSignal(signal);
    const { c, locked } = lock ? await checkoutLocked(wantMs, lock, signal) : { c: await checkout(wantMs), locked: false };
    let cancelling: Promise<void> | undefined;
    let broken = false;
    const onAbort = () => {
      const pid = (c as unknown as { processID: number | null }).processID;
      if (pid) cancelling = cancelBackend(pid).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      checkSignal(signal);
      return await fn(c);
    } catch (err) {
      throw translate(err, c, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (cancelling) await cancelling;
      if (locked && !cancelling) {
        // A session lock outlives the transaction: a connection that cannot drop it is closed.
        await c.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lock]).catch(() => (broken = true));
      }
      // A cancelled connection is closed too (its lock, if any, goes with its session).
      c.release(cancelling || broken ? true : undefined);
    }
  };

  /** A cancelled statement as what it means: the client went away, or the statement timeout. */
  const translate = (err: unknown, c: pg.PoolClient, signal: AbortSignal | undefined): unknown => {
    if (err instanceof RequestGone || err instanceof OperationOutcomeError) return err;
    if (signal?.aborted) return new RequestGone();
    const ms = applied.get(c) ?? 0;
    return isQueryCanceled(err) && ms > 0 ? statementTimedOut(ms) : err;
  };

  const wrap = (c: pg.PoolClient, signal?: AbortSignal): Required<Queryable> => ({
    async query<R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
      return (await exchange(c, [{ sql, params, prepare: options?.prepare }], signal))[0] as QueryResult<R>;
    },
    batch: (statements) => exchange(c, statements, signal),
  });

  /**
   * The statements, `prefix` (BEGIN) first and `suffix` (COMMIT) last, in one round trip: a lone
   * unprepared statement as pg sends it, others as one exchange (./pg-batch.ts), which outside an explicit
   * transaction is a transaction of its own. A prepared statement is parsed once per connection
   * and its plan reused. Answers for the statements alone.
   */
  const exchange = async (c: pg.PoolClient, statements: Statement[], signal: AbortSignal | undefined, prefix?: string, suffix?: string): Promise<QueryResult<Record<string, unknown>>[]> => {
    // Inside a transaction: a request whose client has gone starts no further statement.
    checkSignal(signal);
    const all = [...(prefix ? [{ sql: prefix }] : []), ...statements, ...(suffix ? [{ sql: suffix }] : [])];
    try {
      let results: pg.QueryResult[];
      // A prepared statement goes as a batch too, alone or not: only the batch knows which names
      // a failed batch may have left on the connection.
      if (all.length === 1 && !(all[0] as Statement).prepare) {
        results = [await c.query(all[0].sql, (all[0] as Statement).params)];
      } else {
        const batch = new StatementBatch(all.map((s: Statement) => ({ text: s.sql, values: s.params, name: s.prepare ? statementName(s.sql) : undefined })));
        c.query(batch as unknown as pg.QueryConfig);
        results = await batch.done;
      }
      return results.slice(prefix ? 1 : 0, suffix ? -1 : undefined).map((x) => ({ rows: x.rows as Record<string, unknown>[], rowCount: x.rowCount ?? 0 }));
    } catch (err) {
      // Translated here already, so code inside a transaction that looks at errors sees it too.
      throw translate(err, c, signal);
    }
  };

  // Idempotent: a test's teardown and Server.close may both close it.
  const close = once(() => pool.end());
  const scoped = (signal: AbortSignal | undefined): Database => {
    const db: Database = {
      kind: 'postgres',
      query: (sql, params, options) => withClient((c) => wrap(c).query(sql, params, options), signal),
      batch: (statements) => withClient((c) => wrap(c).batch(statements), signal),
      transaction: (fn, options) =>
        retryingTransaction(() =>
          withClient(async (client) => {
            // BEGIN goes out with the first statements, COMMIT with the last (`exchange`): a
            // transaction costs no round trip of its own. One whose first statements are its last
            // (a single create and its AuditEvent, one INSERT) sends them alone: one exchange is
            // atomic by itself.
            const state = { begun: false, ended: false, committed: false };
            const begin = options?.serializable ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN';
            const send = async (statements: Statement[], qo: QueryOptions | undefined) => {
              if (state.ended) throw new Error('a statement after the transaction\'s last one');
              // Before the state moves: a request gone now leaves a transaction to roll back.
              checkSignal(signal);
              if (qo?.last) state.ended = true;
              const alone = qo?.last && !state.begun && !options?.serializable;
              const prefix = state.begun || alone ? undefined : begin;
              state.begun ||= !alone;
              const suffix = qo?.last && state.begun ? 'COMMIT' : undefined;
              // A statement that fails stops the rest, COMMIT included: the catch below rolls back.
              const out = await exchange(client, statements, signal, prefix, suffix);
              if (suffix) state.committed = true;
              return out;
            };
            try {
              const tx: Queryable = {
                async query(sql, params, qo) {
                  return (await send([{ sql, params, prepare: qo?.prepare }], qo))[0] as QueryResult<never>;
                },
                batch: (statements, qo) => send(statements, qo),
              };
              shareSecretBox(db, tx);
              const result = await fn(tx);
              if (state.begun && !state.committed) await client.query('COMMIT');
              return result;
            } catch (err) {
              if (state.begun && !state.committed) await client.query('ROLLBACK').catch(() => undefined);
              throw err;
            }
          }, signal, timeoutMs, options?.lock)
        ),
      forRequest: (s) => {
        const child = scoped(s);
        shareSecretBox(db, child);
        return child;
      },
      setStatementTimeout(ms) {
        timeoutMs = Math.max(0, ms);
      },
      unbounded: (fn) => withClient((c) => fn(wrap(c, signal)), signal, 0),
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      close,
    };
    return db;
  };
  return scoped(undefined);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
