import { describe, expect, test } from 'vitest';
import { freshDatabase } from '../../../test/support/database.ts';
import type { Queryable } from './database.ts';
import { NAPTIME_MS, SMALL, VACUUM_AT_LEAST_EVERY_MS, analyzed, clusterQuiet, due, dueTables, noteWrites, tableCounts, vacuumed } from './statistics.ts';

// The keeper must refresh statistics after bulk writes, and must not VACUUM while a load runs
// (it would compete with it) nor ever on PGlite (it would hold the only connection).
test('nothing is due before enough rows were written; then ANALYZE; VACUUM only after a pause, only on PostgreSQL', () => {
  const interval = 10_000;
  const now = Date.now();
  expect(due('postgres', interval, now)).toBeUndefined();
  noteWrites(6000);
  const wrote = Date.now();
  // Writes just happened: statistics yes, vacuum not yet.
  expect(due('postgres', interval, now)).toBe('ANALYZE');
  expect(due('pglite', interval, now)).toBe('ANALYZE');
  // A whole interval without writes: PostgreSQL vacuums, PGlite still only analyzes.
  expect(due('postgres', interval, wrote + interval + 1)).toBe('VACUUM (ANALYZE)');
  expect(due('pglite', interval, wrote + interval + 1)).toBe('ANALYZE');
});

// Writes that never pause must not keep VACUUM away for good (dead rows and an ageing visibility
// map slow every read): past VACUUM_AT_LEAST_EVERY_MS since the last one it comes without a pause.
test('under writes that never pause, VACUUM still comes once the last one is old enough', () => {
  const interval = 10_000;
  const t = Date.now();
  vacuumed(t);
  noteWrites(6000, t + 60_000);
  expect(due('postgres', interval, t + 60_001)).toBe('ANALYZE');
  noteWrites(6000, t + VACUUM_AT_LEAST_EVERY_MS - 1);
  expect(due('postgres', interval, t + VACUUM_AT_LEAST_EVERY_MS - 1)).toBe('ANALYZE');
  noteWrites(10, t + VACUUM_AT_LEAST_EVERY_MS);
  expect(due('postgres', interval, t + VACUUM_AT_LEAST_EVERY_MS)).toBe('VACUUM (ANALYZE)');
  // Never on PGlite, and not again until writes have piled up after it.
  expect(due('pglite', interval, t + VACUUM_AT_LEAST_EVERY_MS)).toBe('ANALYZE');
  vacuumed(t + VACUUM_AT_LEAST_EVERY_MS);
  analyzed(1_000_000, t + VACUUM_AT_LEAST_EVERY_MS, 1_000_000);
  noteWrites(10, t + 2 * VACUUM_AT_LEAST_EVERY_MS);
  expect(due('postgres', interval, t + 2 * VACUUM_AT_LEAST_EVERY_MS)).toBeUndefined();
});

// Re-analyzing costs about half a second of a core: once the tables have statistics, the 10% rule
// fires at most once a minute, unless the tables doubled (a load into a young database).
test('after an ANALYZE, the next one waits a minute unless the tables have doubled', () => {
  const now = Date.now();
  analyzed(100_000, now);
  expect(due('pglite', 10_000, now + 1000)).toBeUndefined();
  noteWrites(16_000); // past 5,000 + 10%
  expect(due('pglite', 10_000, now + 1000)).toBeUndefined();
  expect(due('pglite', 10_000, now + NAPTIME_MS)).toBe('ANALYZE');
  noteWrites(90_000); // 106,000 written since: the tables have doubled
  expect(due('pglite', 10_000, now + 1000)).toBe('ANALYZE');
  analyzed(206_000, now + 2000);
  expect(due('pglite', 10_000, now + 3000)).toBeUndefined();
});

// Past SMALL rows an ANALYZE costs seconds of a core (idx_token's extended statistics): a bulk
// load into a grown database doubles it several times and must not analyze at each doubling.
test('once the tables are large, even a doubling waits for the minute', () => {
  const now = Date.now();
  analyzed(SMALL, now);
  noteWrites(SMALL + 1);
  expect(due('pglite', 10_000, now + 1000)).toBeUndefined();
  expect(due('pglite', 10_000, now + NAPTIME_MS)).toBe('ANALYZE');
  analyzed(2 * SMALL + 1, now + NAPTIME_MS);
});

// VACUUM waits for the cluster's pause, not only this process's: the write counters PostgreSQL
// keeps for all nodes must stand still for a whole interval.
test('the cluster is quiet only once its write counters have not moved for an interval', async () => {
  let written = 1000;
  const q = { query: async () => ({ rows: [{ n: written }] }) } as unknown as Queryable;
  const t = 1_000_000;
  expect(await clusterQuiet(q, 2000, t)).toBe(false);
  expect(await clusterQuiet(q, 2000, t + 1000)).toBe(false);
  expect(await clusterQuiet(q, 2000, t + 2000)).toBe(true);
  written += 10; // another node wrote
  expect(await clusterQuiet(q, 2000, t + 4000)).toBe(false);
  expect(await clusterQuiet(q, 2000, t + 6000)).toBe(true);
});

// Each table is judged by itself, on PostgreSQL's counts for all nodes: a few thousand updates
// must not VACUUM the large index tables, and a table another node has just covered (its counters
// reset) is not covered again.
test('a command covers only the tables whose own changes pass their floor and a tenth of their rows', () => {
  const counts = [
    { relname: 'resource', sinceAnalyze: 4915, sinceVacuum: 4915, live: 190_000 },
    { relname: 'resource_history', sinceAnalyze: 4915, sinceVacuum: 4915, live: 30_000 },
    { relname: 'idx_token', sinceAnalyze: 0, sinceVacuum: 0, live: 2_000_000 },
    { relname: 'idx_uri', sinceAnalyze: 900, sinceVacuum: 900, live: 0 },
    { relname: 'audit_event', sinceAnalyze: 40_000, sinceVacuum: 40_000, live: 60_000 },
  ];
  expect(dueTables('VACUUM (ANALYZE)', counts)).toEqual(['resource_history', 'idx_uri', 'audit_event (tenant, recorded, last_updated, keys)']);
  expect(dueTables('ANALYZE', [{ relname: 'resource', sinceAnalyze: 30_000, sinceVacuum: 0, live: 190_000 }])).toEqual(['resource']);
  expect(dueTables('VACUUM (ANALYZE)', [{ relname: 'resource', sinceAnalyze: 30_000, sinceVacuum: 0, live: 190_000 }])).toEqual([]);
});

// The counts are PostgreSQL's own (all nodes): a table written past its floor is due until some
// node vacuums it, and then no longer, which is what keeps a second node from vacuuming it again.
describe.runIf(process.env.DATABASE_URL)('the tables due, on PostgreSQL (needs DATABASE_URL)', () => {
  test('a table written past its floor is due for VACUUM until it is vacuumed', async () => {
    const t = await freshDatabase();
    try {
      const dueNow = async () => dueTables('VACUUM (ANALYZE)', await t.db.unbounded(tableCounts));
      // A backend reports its counts to PostgreSQL's statistics within a second or two of going idle.
      const until = async (want: boolean) => {
        for (let i = 0; i < 100 && (await dueNow()).includes('idx_uri') !== want; i++) await new Promise((r) => setTimeout(r, 100));
        return (await dueNow()).includes('idx_uri');
      };
      await t.db.query(
        `INSERT INTO idx_uri (tenant, rtype, rid, param, grp, value)
         SELECT 't', 'Questionnaire', 'q' || g, 'url', NULL, 'http://example.org/q/' || g FROM generate_series(1, 800) g`
      );
      expect(await until(true)).toBe(true);
      await t.db.unbounded((q) => q.query('VACUUM (ANALYZE) idx_uri'));
      expect(await until(false)).toBe(false);
    } finally {
      await t.drop();
    }
  });
});
