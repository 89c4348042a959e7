import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../server/src/config.ts';
import { seedDemo } from '../../server/src/seed/demo.ts';
import { type TestDatabase, freshDatabase } from '../support/database.ts';

// The demo clinic's passwords, TOTP secret and system/*.cruds client are published in the README:
// it is seeded by default only on the embedded database (README's `npm start`), on PostgreSQL only
// when SEED_DEMO=true asks for it, and never where NODE_ENV=production (issue 10, item 8).

describe('when the demo clinic is seeded', () => {
  test.each([
    ['embedded database, SEED_DEMO unset', {}, true],
    ['PostgreSQL, SEED_DEMO unset', { DATABASE_URL: 'postgres://db.example/clinic' }, false],
    ['PostgreSQL, SEED_DEMO=true', { DATABASE_URL: 'postgres://db.example/clinic', SEED_DEMO: 'true' }, true],
    ['embedded database, SEED_DEMO=false', { SEED_DEMO: 'false' }, false],
    ['embedded database, NODE_ENV=production', { NODE_ENV: 'production' }, false],
  ])('%s', (_name, env, expected) => {
    expect(loadConfig(env as NodeJS.ProcessEnv).seedDemo).toBe(expected);
  });
});

describe('NODE_ENV=production refuses the demo clinic', () => {
  let t: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    t = await freshDatabase();
    dir = mkdtempSync(join(tmpdir(), 'demo-refused-'));
  });
  afterAll(async () => {
    await t?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('seedDemo writes nothing and says why', async () => {
    const config = { ...loadConfig({ NODE_ENV: 'production', SEED_DEMO: 'true' }), dataDir: join(dir, 'data') };
    await expect(seedDemo(t.db, config)).rejects.toThrow(/NODE_ENV=production/);
    expect((await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant')).rows[0].n).toBe(0);
  });

  test('the server process asked to seed exits at once with a clear line, no stack trace', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../server/src/main.ts')], {
      env: { ...process.env, BASE_URL: '', NODE_ENV: 'production', SEED_DEMO: 'true', DATABASE_URL: '', DATA_DIR: join(dir, 'data'), PORT: '0', LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/Refusing to seed the demo clinic where NODE_ENV=production/);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
