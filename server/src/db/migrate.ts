import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database.ts';

const DIR = join(import.meta.dirname, 'migrations');

/**
 * Applies the numbered SQL files in migrations/ that this database has not seen, each in its own
 * transaction, in order. A file once released is never edited: changes come as a new file.
 * An advisory lock keeps two nodes starting at once from racing. `through` stops after that
 * version (tests of a migration over data an older version left).
 */
export async function migrate(db: Database, through = Infinity): Promise<number> {
  await db.query('CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
  const files = migrationFiles();
  let applied = 0;
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(424242)');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migration')).rows.map((r) => r.version));
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (done.has(version) || version > through) continue;
      for (const stmt of splitStatements(readFileSync(join(DIR, file), 'utf8'))) await tx.query(stmt);
      await tx.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [version, file]);
      applied++;
    }
  });
  return applied;
}

function migrationFiles(): string[] {
  return readdirSync(DIR).filter((f) => /^\d+-.*\.sql$/.test(f)).sort();
}

/**
 * The migration files this database has not applied (all of them before the first start): what
 * /readyz waits for. Read-only, so a process that did not migrate may ask.
 */
export async function pendingMigrations(db: Database): Promise<string[]> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('schema_migration')::text AS t");
  const done = new Set(exists.rows[0]?.t ? (await db.query<{ version: number }>('SELECT version FROM schema_migration')).rows.map((r) => r.version) : []);
  return migrationFiles().filter((f) => !done.has(Number.parseInt(f, 10)));
}

/**
 * Splits a migration file into statements: a statement ends with ';' at the end of a line, except
 * inside a dollar-quoted body (`$$ ... $$` or `$tag$ ... $tag$`, e.g. a plpgsql trigger function),
 * which is kept whole. Whole-line `--` comments outside bodies are dropped.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let open: string | undefined; // the tag of the dollar quote we are inside, if any
  const push = () => {
    const stmt = current.join('\n').trim().replace(/;\s*$/, '').trim();
    if (stmt) out.push(stmt);
    current = [];
  };
  for (const line of sql.split(/\r?\n/)) {
    if (!open && /^\s*--/.test(line)) continue;
    current.push(line);
    for (const m of line.matchAll(/\$[A-Za-z_]*\$/g)) {
      if (!open) open = m[0];
      else if (m[0] === open) open = undefined;
    }
    if (!open && /;\s*$/.test(line)) push();
  }
  push();
  return out;
}
