/**
 * The one small interface the rest of the server uses to reach PostgreSQL, whether that is
 * a real server through `pg` (DATABASE_URL set) or PGlite embedded in this process.
 * Same SQL, same migrations: PGlite is PostgreSQL compiled to WASM, not an emulation.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Name for a server-side prepared statement (pg only): hot statements whose text repeats skip
   * parsing and, after a few runs, planning. PGlite ignores it.
   */
  prepare?: boolean;
  /**
   * Inside a transaction: this is its last statement (the repository's final flush). When it is
   * also the first, it runs on its own, without BEGIN and COMMIT: a single statement (or batch)
   * is atomic by itself (pg only; a serializable transaction always begins). Otherwise it carries
   * the COMMIT in its round trip (pg).
   * A statement after the last one is refused, and the transaction's callback must return right
   * after it: once the last statement has run, the transaction is committed.
   */
  last?: boolean;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
  /**
   * Several statements in one round trip, in order, each with its own snapshot (READ COMMITTED):
   * a lock taken by one is held when the next starts. Where a round trip costs more than the
   * statements (pg: a socket write and a wake-up of the backend each), reads that do not depend
   * on each other go out together. All or none take effect: outside a transaction the batch is
   * one of its own. Optional: `runBatch` falls back to one statement at a time.
   */
  batch?(statements: Statement[], options?: QueryOptions): Promise<QueryResult<Record<string, unknown>>[]>;
}

export interface Statement {
  sql: string;
  params?: unknown[];
  /** As QueryOptions.prepare, for a statement that goes out in a batch. */
  prepare?: boolean;
}

/**
 * `q.batch(statements)`, or the statements one after another where `q` cannot batch. `last`: the
 * batch ends its transaction (QueryOptions.last).
 */
export async function runBatch(q: Queryable, statements: Statement[], options?: QueryOptions): Promise<QueryResult<Record<string, unknown>>[]> {
  if (statements.length === 0) return [];
  if (q.batch && (statements.length > 1 || options?.last)) return q.batch(statements, options);
  const out: QueryResult<Record<string, unknown>>[] = [];
  for (const [i, s] of statements.entries()) out.push(await q.query(s.sql, s.params, { prepare: s.prepare, ...(i === statements.length - 1 ? options : undefined) }));
  return out;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs fn inside one transaction on one connection; commits if fn resolves, rolls back if it throws.
   * Serialization failures and deadlocks (SQLSTATE 40001/40P01) are retried a few times,
   * so callers must keep fn free of side effects outside the database.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionSettings): Promise<T>;
  /**
   * This database as one request uses it: when `signal` aborts (the client went away) no further
   * statement starts and, on PostgreSQL, the running one is cancelled; the work then fails with
   * `RequestGone` (./request-scope.ts). PGlite runs inside this process and cannot stop a
   * statement that has started.
   */
  forRequest(signal: AbortSignal): Database;
  /**
   * The statement timeout (ms, 0 = the database's own setting) for every later statement of this
   * database and those derived from it, except `unbounded` work. A statement past it fails with
   * a 503 OperationOutcome (./request-scope.ts). PostgreSQL only: PGlite cannot interrupt itself.
   */
  setStatementTimeout(ms: number): void;
  /** Runs fn on one connection with no statement timeout: maintenance that legitimately runs long. */
  unbounded<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Connections of the pool (pg only; PGlite has one in-process connection): for /metrics. */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export interface TransactionSettings {
  serializable?: boolean;
  /**
   * A name: transactions given the same one run one after another, the next starting once the
   * previous has committed (PostgreSQL: a session advisory lock taken before BEGIN, so that a
   * serializable transaction's snapshot already sees the previous one's commit; PGlite runs one
   * transaction at a time anyway). For conditional writes on the same criteria, which would
   * otherwise all read "no match" and all but one fail at commit. Waiting is bounded: past
   * LOCK_WAIT_MS the transaction runs anyway, as a serializable one it stays correct.
   */
  lock?: string;
}
export const LOCK_WAIT_MS = 10_000;

/** SQLSTATE codes that mean "try the whole transaction again". */
export const RETRYABLE = new Set(['40001', '40P01']);
export const MAX_TX_ATTEMPTS = 5;

/**
 * How long to wait before attempt `attempt + 1` of a transaction that lost a race: random within
 * an exponentially growing window ("full jitter"), so that the losers of one race do not all
 * start over at once and collide again (twenty conditional updates of one new identifier).
 */
export function retryDelayMs(attempt: number): number {
  return Math.random() * Math.min(RETRY_MAX_WINDOW_MS, RETRY_FIRST_WINDOW_MS * 2 ** (attempt - 1));
}
const RETRY_FIRST_WINDOW_MS = 20;
const RETRY_MAX_WINDOW_MS = 320;

/**
 * Runs one attempt of a transaction after another until one commits: a serialization failure or
 * deadlock is retried (at most MAX_TX_ATTEMPTS, waiting retryDelayMs off the connection, so the
 * winner can finish), anything else is thrown. Both drivers' `transaction` use it.
 */
export async function retryingTransaction<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= MAX_TX_ATTEMPTS || !isRetryable(err)) throw err;
    }
    // Off the connection while waiting: the winner may need one from the pool to finish.
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs(n)));
  }
}

export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has((err as { code?: string }).code ?? '');
}
