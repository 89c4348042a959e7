import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config-check.ts';
import { KEY_ID, type SecretKey, SecretBox } from './secret-box.ts';

/**
 * Where the server key for secrets at rest comes from (README "Secrets at rest"):
 * - `SECRET_KEYS`: `id:base64key` entries separated by commas or white space; the first writes;
 * - else `SECRET_KEYS_FILE`: the same entries, one a line (`#` starts a comment);
 * - else, on the embedded database only, `<DATA_DIR>.secret-keys` beside the data directory,
 *   generated (mode 600) on first start so `npm start` works on a fresh clone. A throw-away
 *   in-memory database (`DATA_DIR=memory`) gets a throw-away key.
 * On PostgreSQL nothing is generated unless SECRET_KEYS_GENERATE=true names that choice (and
 * SECRET_KEYS_FILE where): several servers share one database, and a key made up on one machine
 * would leave the others unable to read what it wrote.
 */
export interface SecretKeyConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  secretKeys?: string;
  secretKeysFile?: string;
  secretKeysGenerate?: boolean;
}

export function loadSecretBox(config: SecretKeyConfig): SecretBox {
  if (config.secretKeys?.trim()) return new SecretBox(parseSecretKeys(config.secretKeys, 'SECRET_KEYS'));
  const embedded = !config.databaseUrl;
  if (embedded && config.dataDir === 'memory' && !config.secretKeysFile) return new SecretBox([newSecretKey()]);
  const file = config.secretKeysFile || (embedded ? defaultSecretKeyFile(config.dataDir) : undefined);
  if (!file) {
    throw new ConfigError(
      'No server key for secrets at rest: on PostgreSQL set SECRET_KEYS (make one with `npm run cli -- secrets keygen`) or SECRET_KEYS_FILE; ' +
        'SECRET_KEYS_GENERATE=true with SECRET_KEYS_FILE creates that file when it is missing'
    );
  }
  if (existsSync(file)) return new SecretBox(parseSecretKeys(readFileSync(file, 'utf8'), file));
  if (!(config.secretKeysGenerate ?? embedded)) {
    throw new ConfigError(`The server key file ${file} (SECRET_KEYS_FILE) does not exist; create it with \`npm run cli -- secrets keygen\`, or set SECRET_KEYS_GENERATE=true to have it generated`);
  }
  const key = newSecretKey();
  mkdirSync(dirname(file), { recursive: true });
  try {
    // 'wx': two processes starting together must not each write their own key.
    writeFileSync(file, `# Server key for secrets at rest (README "Secrets at rest"). Keep it apart from database backups.\n${formatSecretKey(key)}\n`, {
      flag: 'wx',
      mode: 0o600,
    });
    return new SecretBox([key]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return new SecretBox(parseSecretKeys(readFileSync(file, 'utf8'), file));
    throw err;
  }
}

export function defaultSecretKeyFile(dataDir: string): string {
  return `${resolve(dataDir)}.secret-keys`;
}

export function newSecretKey(): SecretKey {
  return { id: `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`, key: randomBytes(32) };
}

export function formatSecretKey(k: SecretKey): string {
  return `${k.id}:${k.key.toString('base64')}`;
}

/** `id:base64` entries; `where` names the variable or file in errors (never a key). */
export function parseSecretKeys(text: string, where: string): SecretKey[] {
  const entries = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join(' ')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (entries.length === 0) throw new ConfigError(`${where} holds no key`);
  return entries.map((e, i) => {
    const at = e.indexOf(':');
    const id = at > 0 ? e.slice(0, at) : '';
    if (!KEY_ID.test(id)) throw new ConfigError(`${where}: entry ${i + 1} must read id:base64key (id of letters, digits, "_" or "-")`);
    const key = Buffer.from(e.slice(at + 1), 'base64');
    if (key.length !== 32) throw new ConfigError(`${where}: key "${id}" must be 32 bytes, base64-encoded`);
    return { id, key };
  });
}
