import type { PGlite } from '@electric-sql/pglite';
import { type Database, type Queryable, type QueryResult, retryingTransaction } from './database.ts';
import { checkSignal } from './request-scope.ts';
import { shareSecretBox } from './secret-box.ts';

/**
 * PGlite runs one connection in-process. Its own transaction() serializes callers, and a plain
 * query issued while a transaction is open waits for it, so concurrent requests stay correct.
 */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  // Imported when used: a server on PostgreSQL never loads the embedded database's code.
  const { PGlite } = await import('@electric-sql/pglite');
  const db = dataDir ? new PGlite(dataDir) : new PGlite();
  await db.waitReady;
  // Idempotent: a test's teardown and Server.close may both close it.
  const close = once(() => db.close());
  const run = async <R>(q: { query: PGlite['query'] }, sql: string, params?: unknown[]): Promise<QueryResult<R>> => {
    const r = await q.query<R>(sql, params as unknown[]);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  };
  const scoped = (signal: AbortSignal | undefined): Database => {
    const database: Database = {
      kind: 'pglite',
      query: async (sql, params) => {
        checkSignal(signal);
        return run(db, sql, params);
      },
      transaction: (fn, options) =>
        retryingTransaction(() =>
          db.transaction(async (tx) => {
            if (options?.serializable) await tx.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE');
            const q: Queryable = {
              query: async (sql, params) => {
                checkSignal(signal);
                return run(tx, sql, params);
              },
            };
            shareSecretBox(database, q);
            return fn(q);
          })
        ),
      forRequest: (s) => {
        const child = scoped(s);
        shareSecretBox(database, child);
        return child;
      },
      // PGlite's statements run on this process's thread: no timer can interrupt them (the
      // search limits are the defence here).
      setStatementTimeout: () => undefined,
      unbounded: (fn) => fn(database),
      close,
    };
    return database;
  };
  return scoped(undefined);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
