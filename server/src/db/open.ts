import type { Config } from '../config.ts';
import type { Database } from './database.ts';
import { migrate } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './pg.ts';

/** PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise; migrated before first use. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolSize'>): Promise<Database> {
  const db = config.databaseUrl
    ? await openPostgres(config.databaseUrl, config.dbPoolSize)
    : await openPglite(config.dataDir === 'memory' ? undefined : config.dataDir);
  await migrate(db);
  return db;
}
