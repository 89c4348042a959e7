import type { Config } from '../config.ts';
import type { Database } from './database.ts';
import { migrate } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './pg.ts';
import { sealSecrets } from './secret-columns.ts';
import { attachSecretBox } from './secret-box.ts';
import { type SecretKeyConfig, loadSecretBox } from './secret-keys.ts';

/**
 * PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise; migrated before first use, with
 * its server key for secrets at rest (./secret-keys.ts) loaded and any secret still stored as
 * plain text encrypted. The key is loaded first: a server without one does not touch the database.
 */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolSize'> & Partial<SecretKeyConfig>): Promise<Database> {
  const box = loadSecretBox(config);
  const db = config.databaseUrl
    ? await openPostgres(config.databaseUrl, config.dbPoolSize)
    : await openPglite(config.dataDir === 'memory' ? undefined : config.dataDir);
  attachSecretBox(db, box);
  await migrate(db);
  await sealSecrets(db);
  return db;
}
