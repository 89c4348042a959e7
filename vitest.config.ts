import { defineConfig } from 'vitest/config';

// Tests run against PGlite by default and against PostgreSQL when DATABASE_URL is set; each test
// file gets its own fresh database (see test/support/database.ts).
export default defineConfig({
  test: {
    include: ['server/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { LOG_LEVEL: 'error' },
  },
});
