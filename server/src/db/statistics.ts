import { log } from '../log.ts';
import type { Database } from './database.ts';

/**
 * Keeps planner statistics (and the visibility map) fresh on our tables. Search plans depend on them (how many rows a code
 * or a date range selects), and neither PGlite nor a PostgreSQL with autovacuum off (as on our CI
 * machines) would ever ANALYZE on its own. When the rows written since the last ANALYZE pass 10%
 * of the tables (plus a floor), the tables are analyzed, by one node at a time (advisory lock).
 * Written rows are counted in this process (`noteWrites`), because PGlite keeps no table
 * statistics to ask; where autovacuum also runs, the extra ANALYZE is cheap.
 */
const TABLES = ['resource', 'resource_history', 'idx_token', 'idx_string', 'idx_date', 'idx_number', 'idx_quantity', 'idx_reference', 'idx_uri'];
const LOCK = 424244;
const FLOOR = 5000;

let written = 0;
let rowsAtLastAnalyze = 0;

/** Called by the write path with the number of rows it inserted. */
export function noteWrites(rows: number): void {
  written += rows;
}

export function isStale(): boolean {
  return written > FLOOR + 0.1 * rowsAtLastAnalyze;
}

export async function analyze(db: Database): Promise<boolean> {
  const { rows: got } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK]);
  if (!got[0]?.ok) return false;
  try {
    written = 0;
    // On PostgreSQL, VACUUM as well: it sets the visibility map, without which every "index-only"
    // scan of the index tables still visits the heap (Observation?code=&date=ge p50 22 → 2 ms).
    // PGlite has one connection, which a VACUUM would hold for seconds: ANALYZE only there.
    const command = db.kind === 'pglite' ? 'ANALYZE' : 'VACUUM (ANALYZE)';
    for (const t of TABLES) await db.query(`${command} ${t}`);
    const { rows } = await db.query<{ n: number }>(
      `SELECT coalesce(sum(greatest(reltuples, 0)), 0)::float8 AS n FROM pg_class WHERE relname = ANY($1::text[])`,
      [TABLES]
    );
    rowsAtLastAnalyze = rows[0]?.n ?? 0;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [LOCK]);
  }
  return true;
}

export function keepStatistics(db: Database, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running || !isStale()) return;
    running = true;
    const started = performance.now();
    analyze(db)
      .then((done) => done && log.info('analyzed tables', { ms: Math.round(performance.now() - started) }))
      .catch((err: unknown) => log.error('analyze failed', { code: (err as { code?: string }).code }))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
