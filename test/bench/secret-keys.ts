import { formatSecretKey, newSecretKey } from '../../server/src/db/secret-keys.ts';

/**
 * The server key of a benchmark run (README "Secrets at rest"): one throw-away key in the
 * environment, so the setup code and every server process it spawns (which inherit the
 * environment) read and write the same secrets, on PostgreSQL as on PGlite.
 */
process.env.SECRET_KEYS ||= formatSecretKey(newSecretKey());
export const BENCH_SECRET_KEYS = process.env.SECRET_KEYS;
