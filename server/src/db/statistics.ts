import { log } from '../log.ts';
import type { Database, Queryable } from './database.ts';

/**
 * Keeps planner statistics (and the visibility map) fresh on our tables. Search plans depend on
 * them (how many rows a code or a date range selects), and neither PGlite nor a PostgreSQL with
 * autovacuum off (as on our CI machines) would ever ANALYZE on its own.
 *  - When the rows written since the last ANALYZE pass 10% of the tables (plus a floor): ANALYZE.
 *  - When writes have paused for a whole interval after a load: VACUUM (ANALYZE) on PostgreSQL.
 *    It sets the visibility map, without which every "index-only" scan of the index tables still
 *    visits the heap (Observation?code=&date=ge p50 22 → 2 ms); during a bulk load it would only
 *    compete with the load. PGlite has one connection, which a VACUUM would hold: never there.
 * One node at a time (advisory lock). Written rows are counted in this process (`noteWrites`),
 * because PGlite keeps no table statistics to ask; where autovacuum runs too, this is cheap.
 */
const TABLES = ['resource', 'resource_history', 'idx_token', 'idx_string', 'idx_date', 'idx_number', 'idx_quantity', 'idx_reference', 'idx_uri'];
const LOCK = 424244;
const FLOOR = 5000;

let sinceAnalyze = 0;
let sinceVacuum = 0;
let lastWriteAt = 0;
let rowsAtLastAnalyze = 0;

/** Called by the write path with the number of rows it inserted. */
export function noteWrites(rows: number): void {
  sinceAnalyze += rows;
  sinceVacuum += rows;
  lastWriteAt = Date.now();
}

async function locked(q: Queryable, fn: () => Promise<void>): Promise<boolean> {
  const { rows: got } = await q.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK]);
  if (!got[0]?.ok) return false;
  try {
    await fn();
  } finally {
    await q.query('SELECT pg_advisory_unlock($1)', [LOCK]);
  }
  return true;
}

/**
 * On one connection (the advisory lock is held by a session, so it is taken and released on the
 * same one), without the statement timeout requests run under: ANALYZE and VACUUM of a large
 * table legitimately take longer.
 */
async function run(db: Database, command: 'ANALYZE' | 'VACUUM (ANALYZE)'): Promise<boolean> {
  return db.unbounded((q) =>
    locked(q, async () => {
      sinceAnalyze = 0;
      if (command !== 'ANALYZE') sinceVacuum = 0;
      for (const t of TABLES) await q.query(`${command} ${t}`);
      const { rows } = await q.query<{ n: number }>(
        `SELECT coalesce(sum(greatest(reltuples, 0)), 0)::float8 AS n FROM pg_class WHERE relname = ANY($1::text[])`,
        [TABLES]
      );
      rowsAtLastAnalyze = rows[0]?.n ?? 0;
    })
  );
}

/** What the keeper would do now, if anything. */
export function due(kind: Database['kind'], intervalMs: number, now = Date.now()): 'ANALYZE' | 'VACUUM (ANALYZE)' | undefined {
  if (kind === 'postgres' && sinceVacuum > FLOOR && now - lastWriteAt >= intervalMs) return 'VACUUM (ANALYZE)';
  if (sinceAnalyze > FLOOR + 0.1 * rowsAtLastAnalyze) return 'ANALYZE';
  return undefined;
}

export function keepStatistics(db: Database, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    const command = due(db.kind, intervalMs);
    if (running || !command) return;
    running = true;
    const started = performance.now();
    run(db, command)
      .then((done) => done && log.info('refreshed statistics', { command, ms: Math.round(performance.now() - started) }))
      .catch((err: unknown) => log.error('statistics refresh failed', { code: (err as { code?: string }).code }))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
