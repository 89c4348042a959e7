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
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs fn inside one transaction on one connection; commits if fn resolves, rolls back if it throws.
   * Serialization failures and deadlocks (SQLSTATE 40001/40P01) are retried a few times,
   * so callers must keep fn free of side effects outside the database.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: { serializable?: boolean }): Promise<T>;
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

/** SQLSTATE codes that mean "try the whole transaction again". */
export const RETRYABLE = new Set(['40001', '40P01']);
export const MAX_TX_ATTEMPTS = 5;

export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has((err as { code?: string }).code ?? '');
}
