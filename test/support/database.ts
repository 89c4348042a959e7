import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { Database } from '../../server/src/db/database.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { openPostgres } from '../../server/src/db/pg.ts';
import { openPglite } from '../../server/src/db/pglite.ts';

/**
 * A fresh, migrated database for one test file: in-memory PGlite by default, or a new PostgreSQL
 * database (created next to the one DATABASE_URL names, dropped afterwards) when DATABASE_URL is
 * set. Leftovers from other runs can never decide a result.
 */
export interface TestDatabase {
  db: Database;
  url: string | undefined;
  /** The server key the database was opened with (PostgreSQL), to open it again alike. */
  secretKeys?: string;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const db = await openDatabase({ databaseUrl: undefined, dataDir: 'memory', dbPoolSize: 1 });
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  // A server key for secrets at rest (PostgreSQL gets none generated: db/secret-keys.ts), one per
  // test process and kept in its environment, so server processes a test spawns on the same
  // database (which inherit the environment) read what this one wrote.
  const secretKeys = (process.env.SECRET_KEYS ||= `test:${randomBytes(32).toString('base64')}`);
  const db = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory', dbPoolSize: 8, secretKeys });
  return {
    db,
    url: url.toString(),
    secretKeys,
    async drop() {
      await db.close();
      const a = new pg.Client({ connectionString: base });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** A database no migration has touched (tests of a migration over what an older version wrote). */
export async function unmigratedDatabase(): Promise<{ db: Database; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const db = await openPglite(undefined);
    return { db, drop: () => db.close() };
  }
  const name = `m_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(sql);
    await c.end();
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = await openPostgres(url.toString(), 2);
  return {
    db,
    drop: async () => {
      await db.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
