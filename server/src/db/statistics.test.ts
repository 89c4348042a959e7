import { expect, test } from 'vitest';
import { due, noteWrites } from './statistics.ts';

// The keeper must refresh statistics after bulk writes, and must not VACUUM while a load runs
// (it would compete with it) nor ever on PGlite (it would hold the only connection).
test('nothing is due before enough rows were written; then ANALYZE; VACUUM only after a pause, only on PostgreSQL', () => {
  const interval = 10_000;
  const now = Date.now();
  expect(due('postgres', interval, now)).toBeUndefined();
  noteWrites(6000);
  // Writes just happened: statistics yes, vacuum not yet.
  expect(due('postgres', interval, now)).toBe('ANALYZE');
  expect(due('pglite', interval, now)).toBe('ANALYZE');
  // A whole interval without writes: PostgreSQL vacuums, PGlite still only analyzes.
  expect(due('postgres', interval, now + interval + 1)).toBe('VACUUM (ANALYZE)');
  expect(due('pglite', interval, now + interval + 1)).toBe('ANALYZE');
});
