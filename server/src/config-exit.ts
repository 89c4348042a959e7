import { type Config, loadConfig } from './config.ts';
import { ConfigError } from './config-check.ts';

/**
 * For the entry points (main.ts, cli/main.ts): a malformed setting ends the process with one line
 * on stderr and exit code 1, not a stack trace. Written directly, not through log.ts, so it shows
 * whatever LOG_LEVEL says (LOG_LEVEL itself may be the bad value).
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    exitOnConfigError(err);
  }
}

/**
 * The same for what a start finds wrong later, once settings meet their rules (no server key for
 * secrets at rest on PostgreSQL, a key file that does not parse): one line and exit code 1.
 * Anything else is not a setting, and goes on as it was thrown.
 */
export async function orExitOnConfigError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    exitOnConfigError(err);
  }
}

function exitOnConfigError(err: unknown): never {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`Configuration error: ${err.message}\n`);
  process.exit(1);
}
