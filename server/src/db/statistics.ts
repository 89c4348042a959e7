import { log } from '../log.ts';
import type { Database, Queryable } from './database.ts';

/**
 * Keeps planner statistics (and the visibility map) fresh on our tables. Search plans depend on
 * them (how many rows a code or a date range selects), and neither PGlite nor a PostgreSQL with
 * autovacuum off (as on our CI machines) would ever ANALYZE on its own.
 *  - When the rows written since the last ANALYZE pass 10% of the tables (plus a floor): ANALYZE,
 *    at most once a minute (PostgreSQL's autovacuum_naptime default) or once per 20 times the
 *    last ANALYZE's duration, whichever is longer, unless the tables have doubled since. An ANALYZE of our tables costs about half a second of a core (idx_token's
 *    code column keeps 1,000 values, so 300,000 rows are sampled); a small database under a
 *    steady write load passed 10% every few seconds and spent a quarter of the database's CPU
 *    re-analyzing (bench:risk phase 1, perf). Doubling still refreshes at once while the tables
 *    are young (below SMALL rows): plans go wrong when a table grows from a few rows to thousands,
 *    not when it grows by a third. Past that, doubling waits for the minute too: during a bulk
 *    load each doubling cost more (idx_token's ANALYZE with its extended statistics is seconds of
 *    a core at half a million rows) and ANALYZE took a third of the database's CPU (issue 12,
 *    perf of `npm run bench` ingest).
 *  - When writes have paused for a whole interval after a load, or have gone on for
 *    VACUUM_AT_LEAST_EVERY_MS since the last one: VACUUM (ANALYZE) on PostgreSQL, of the tables
 *    that changed by more than a tenth (`dueTables`).
 *    The pause must be the cluster's (PostgreSQL's write counters have not moved for an interval),
 *    not only this process's: in a loaded cluster one process often goes an interval without a
 *    write, and the bench's ingest ran four to six VACUUM (ANALYZE)s in the middle of its load.
 *    It sets the visibility map, without which every "index-only" scan of the index tables still
 *    visits the heap (Observation?code=&date=ge p50 22 → 2 ms); during a bulk load it would only
 *    compete with the load. PGlite has one connection, which a VACUUM would hold: never there.
 * One node at a time (advisory lock). Written rows are counted in this process (`noteWrites`),
 * because PGlite keeps no table statistics to ask; where autovacuum runs too, this is cheap.
 */
const TABLES = ['resource', 'resource_history', 'idx_token', 'idx_string', 'idx_date', 'idx_number', 'idx_quantity', 'idx_reference', 'idx_uri'];
/**
 * Analyzed with them, but its writes are not counted: every audited request adds a row, and a
 * count that grows with reads would ANALYZE the record's tables for the log's sake. Only the
 * columns searches filter on (the JSON is wide and never compared).
 */
const AUDIT = 'audit_event (tenant, recorded, last_updated, keys)';
const LOCK = 424244;
const FLOOR = 5000;
/** A table's own floor, once the sum is due (autovacuum's is 50 rows; a small table is cheap to cover). */
const TABLE_FLOOR = 500;
/** Below this many rows (all our tables together) a doubling is analyzed at once, not after the minute. */
export const SMALL = 200_000;
/** Least time between two ANALYZEs that are due by the 10% rule (autovacuum_naptime's default). */
export const NAPTIME_MS = 60_000;
/**
 * ...or this many times as long as the last ANALYZE took, if more: on a large database an ANALYZE
 * of idx_token takes seconds (5.7 s after the Synthea sample), and every audited read adds index
 * rows, so a once-a-minute ANALYZE spent a tenth of a core; this keeps it under 5% of one.
 */
const NAPTIME_FACTOR = 20;
let lastAnalyzeMs = 0;
const naptime = (): number => Math.max(NAPTIME_MS, NAPTIME_FACTOR * lastAnalyzeMs);

/**
 * Under writes that never pause (a clinic's working day; bench:soak) VACUUM still comes this long
 * after the last one: without it dead rows and an ageing visibility map slow every read for as
 * long as the load lasts (bench:soak's p95 rose 38 → 65 ms over 30 minutes with autovacuum off and
 * no VACUUM). It covers only the tables due (`dueTables`), so it costs what their changes cost.
 */
export const VACUUM_AT_LEAST_EVERY_MS = 10 * 60_000;
let lastVacuumAt = Date.now();

let sinceAnalyze = 0;
let sinceVacuum = 0;
let lastWriteAt = 0;
let rowsAtLastAnalyze = 0;
let lastAnalyzeAt = -Infinity;

/** Called by the write path with the number of rows it inserted. */
export function noteWrites(rows: number, at = Date.now()): void {
  sinceAnalyze += rows;
  sinceVacuum += rows;
  lastWriteAt = at;
}

/** A VACUUM ran (or another node's made one unneeded) at `at` (exported for the keeper's tests). */
export function vacuumed(at: number): void {
  sinceVacuum = 0;
  lastVacuumAt = at;
}

const vacuumOverdue = (now: number): boolean => now - lastVacuumAt >= VACUUM_AT_LEAST_EVERY_MS;

/**
 * An ANALYZE that started at `at`, when `counted` rows had been written since the last one, found
 * `rows` rows in our tables (exported for the keeper's tests). Rows written while it ran count
 * towards the next one.
 */
export function analyzed(rows: number, at: number, counted = sinceAnalyze): void {
  sinceAnalyze = Math.max(0, sinceAnalyze - counted);
  rowsAtLastAnalyze = rows;
  lastAnalyzeAt = at;
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
async function run(db: Database, command: 'ANALYZE' | 'VACUUM (ANALYZE)', intervalMs: number): Promise<boolean> {
  let ran = false;
  const locking = await db.unbounded((q) =>
    locked(q, async () => {
      const startedAt = Date.now();
      const counted = sinceAnalyze;
      // Still due at the next tick (sinceVacuum is kept), when the counters may have stood still.
      if (db.kind === 'postgres' && command !== 'ANALYZE' && !vacuumOverdue(startedAt) && !(await clusterQuiet(q, intervalMs, startedAt))) return;
      // PostgreSQL counts every node's writes per table: decide on those (another node may have
      // analyzed a moment ago, and its ANALYZE counts for the minute here too).
      if (db.kind === 'postgres' && command === 'ANALYZE' && !(await analyzeDueCluster(q, startedAt))) {
        sinceAnalyze = 0;
        return;
      }
      if (command !== 'ANALYZE') vacuumed(startedAt);
      for (const t of db.kind === 'postgres' ? await tablesDue(q, command) : [AUDIT, ...TABLES]) await q.query(`${command} ${t}`);
      const { rows } = await q.query<{ n: number }>(
        `SELECT coalesce(sum(greatest(reltuples, 0)), 0)::float8 AS n FROM pg_class WHERE relname = ANY($1::text[])`,
        [TABLES]
      );
      analyzed(rows[0]?.n ?? 0, startedAt, counted);
      lastAnalyzeMs = Date.now() - startedAt;
      ran = true;
    })
  );
  return locking && ran;
}

/** One of our tables as PostgreSQL counts it (all nodes). */
export interface TableCounts {
  relname: string;
  /** Rows inserted, updated or deleted since its last ANALYZE (`n_mod_since_analyze`). */
  sinceAnalyze: number;
  /** Rows inserted since its last VACUUM plus dead rows (`n_ins_since_vacuum + n_dead_tup`). */
  sinceVacuum: number;
  live: number;
}

/**
 * The tables a command should cover: those whose own changes pass TABLE_FLOOR + 10% of their
 * rows, as autovacuum judges each table by itself (the sum over our tables still decides when).
 * Covering all of them whenever the sum was due cost a whole VACUUM (ANALYZE) of idx_token
 * (seconds of a core) after a few thousand updates, and each node ran it again after the other
 * (both had counted writes): `npm run bench` spent about a third of the search phase's database
 * CPU on them. A table another node has just covered has its counters reset, so it is not
 * covered twice. Exported for the keeper's tests.
 */
export function dueTables(command: 'ANALYZE' | 'VACUUM (ANALYZE)', counts: TableCounts[]): string[] {
  return counts
    .filter((c) => (command === 'ANALYZE' ? c.sinceAnalyze : c.sinceVacuum) > TABLE_FLOOR + 0.1 * c.live)
    .map((c) => (c.relname === 'audit_event' ? AUDIT : c.relname));
}

/** PostgreSQL's counts for the audit table and our tables (exported for the bench, which waits for the keeper). */
export async function tableCounts(q: Queryable): Promise<TableCounts[]> {
  const { rows } = await q.query<TableCounts>(
    `SELECT relname, n_mod_since_analyze::float8 AS "sinceAnalyze", (n_ins_since_vacuum + n_dead_tup)::float8 AS "sinceVacuum",
            n_live_tup::float8 AS live
       FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = ANY($1::text[])`,
    [['audit_event', ...TABLES]]
  );
  return rows;
}

async function tablesDue(q: Queryable, command: 'ANALYZE' | 'VACUUM (ANALYZE)'): Promise<string[]> {
  const rows = await tableCounts(q);
  // The audit table first: a VACUUM after a load is then done with it when the record's tables are.
  return dueTables(command, rows.sort((a, b) => Number(b.relname === 'audit_event') - Number(a.relname === 'audit_event')));
}

/** PostgreSQL's count of rows written to our tables (all nodes) when last read, and since when it has stood. */
let clusterWrites: { n: number; since: number } | undefined;

/** True when no node has written to our tables for `intervalMs` (exported for the keeper's tests). */
export async function clusterQuiet(q: Queryable, intervalMs: number, now: number): Promise<boolean> {
  const { rows } = await q.query<{ n: number }>(
    'SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8 AS n FROM pg_stat_user_tables WHERE relname = ANY($1::text[])',
    [TABLES]
  );
  const n = Number(rows[0]?.n ?? 0);
  if (clusterWrites?.n !== n) {
    clusterWrites = { n, since: now };
    return false;
  }
  return now - clusterWrites.since >= intervalMs;
}

/** The 10% rule, the minute and doubling, judged on PostgreSQL's own per-table counts (all nodes). */
async function analyzeDueCluster(q: Queryable, now: number): Promise<boolean> {
  const { rows } = await q.query<{ mods: number; live: number; at: number | null }>(
    `SELECT coalesce(sum(n_mod_since_analyze), 0)::float8 AS mods, coalesce(sum(n_live_tup), 0)::float8 AS live,
            extract(epoch FROM max(greatest(last_analyze, last_autoanalyze))) * 1000 AS at
       FROM pg_stat_user_tables WHERE relname = ANY($1::text[])`,
    [TABLES]
  );
  const { mods = 0, live = 0, at = null } = rows[0] ?? {};
  const before = Math.max(0, live - mods);
  if (mods <= FLOOR + 0.1 * before) return false;
  if (before < SMALL && mods > Math.max(FLOOR, before)) return true;
  if (at !== null && now - Number(at) < naptime()) {
    lastAnalyzeAt = Number(at);
    return false;
  }
  return true;
}

/** Rows written since the last ANALYZE outnumber the rows there were then, in tables still young. */
const doubled = () => rowsAtLastAnalyze < SMALL && sinceAnalyze > Math.max(FLOOR, rowsAtLastAnalyze);

/** What the keeper would do now, if anything. */
export function due(kind: Database['kind'], intervalMs: number, now = Date.now()): 'ANALYZE' | 'VACUUM (ANALYZE)' | undefined {
  if (kind === 'postgres' && sinceVacuum > FLOOR && (now - lastWriteAt >= intervalMs || vacuumOverdue(now))) return 'VACUUM (ANALYZE)';
  if (sinceAnalyze <= FLOOR + 0.1 * rowsAtLastAnalyze) return undefined;
  if (doubled() || now - lastAnalyzeAt >= naptime()) return 'ANALYZE';
  return undefined;
}

export function keepStatistics(db: Database, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    const command = due(db.kind, intervalMs);
    if (running || !command) return;
    running = true;
    const started = performance.now();
    run(db, command, intervalMs)
      .then((done) => done && log.info('refreshed statistics', { command, ms: Math.round(performance.now() - started) }))
      .catch((err: unknown) => log.error('statistics refresh failed', { code: (err as { code?: string }).code }))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
