/**
 * The rules every environment variable must meet, checked before anything starts: a typo such as
 * `PORT=80a` or `SEED_DEMO=yes` stops the start with one line naming the variable and what it
 * allows, rather than a server quietly running on NaN or a default. Variables read outside
 * config.ts (log.ts, access/) are checked here too, so one start-up check covers them all.
 */
import { isIP } from 'node:net';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Rule = (value: string, name: string) => void;

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Rule =>
  (value, name) => {
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
      throw new ConfigError(`${name} must be a whole number ${range}, not "${value}"`);
    }
  };

const oneOf =
  (...allowed: string[]): Rule =>
  (value, name) => {
    if (!allowed.includes(value)) throw new ConfigError(`${name} must be ${allowed.map((a) => `"${a}"`).join(' or ')}, not "${value}"`);
  };

const boolean = oneOf('true', 'false');

const url =
  (...schemes: string[]): Rule =>
  (value, name) => {
    let u: URL | undefined;
    try {
      u = new URL(value);
    } catch {
      u = undefined;
    }
    if (!u || !schemes.includes(u.protocol)) throw new ConfigError(`${name} must be a ${schemes.map((s) => s.slice(0, -1)).join(' or ')} URL`);
  };

/** Host names or IP literals, comma-separated (an optional :port is not part of it). */
const hosts: Rule = (value, name) => {
  for (const h of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const bare = h.replace(/^\[(.*)\]$/, '$1');
    if (!isIP(bare) && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(h)) {
      throw new ConfigError(`${name} must be comma-separated host names or IP addresses; "${h}" is neither`);
    }
  }
};

/** A hop count, or comma-separated addresses / CIDR ranges of the proxies to trust (express `trust proxy`). */
const trustProxy: Rule = (value, name) => {
  if (/^\d+$/.test(value)) return integer(0, 100)(value, name);
  for (const entry of value.split(',').map((s) => s.trim())) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    const named = ['loopback', 'linklocal', 'uniquelocal'].includes(entry);
    if (!named && (!family || !bitsOk || extra !== undefined)) {
      throw new ConfigError(`${name} must be a hop count or comma-separated IP addresses or CIDR ranges (e.g. 10.0.0.0/8), not "${entry}"`);
    }
  }
};

const RULES: Record<string, Rule> = {
  PORT: integer(0, 65535),
  BASE_URL: url('http:', 'https:'),
  DATABASE_URL: url('postgres:', 'postgresql:'),
  DB_POOL_SIZE: integer(1, 1000),
  MAX_BODY_BYTES: integer(1),
  BODY_TIMEOUT_MS: integer(1),
  REQUEST_TIMEOUT_MS: integer(1),
  TRUST_PROXY: trustProxy,
  SYSTEM_TOKEN_SECONDS: integer(1, 300),
  PERSON_TOKEN_SECONDS: integer(1, 3600),
  OFFLINE_REFRESH_SECONDS: integer(1),
  OFFLINE_GRANT_MAX_SECONDS: integer(1),
  ONLINE_REFRESH_SECONDS: integer(1),
  SESSION_IDLE_SECONDS: integer(1),
  SESSION_MAX_SECONDS: integer(1),
  TOKEN_RATE_LIMIT_PER_IP: integer(0),
  TOKEN_RATE_LIMIT_PER_CLIENT: integer(0),
  REGISTRATION_RATE_LIMIT_PER_IP: integer(0),
  WORKERS: integer(1, 1024),
  SEED_DEMO: boolean,
  SECRET_KEYS_GENERATE: boolean,
  STATISTICS_INTERVAL_MS: integer(0),
  RISK_POLL_MS: integer(0),
  SUBSCRIPTION_POLL_MS: integer(0),
  SUBSCRIPTION_ALLOWED_HOSTS: hosts,
  JWKS_ALLOWED_HOSTS: hosts,
  SUBSCRIPTION_MAX_TIMEOUT_SECONDS: integer(1, 3600),
  SUBSCRIPTION_MAX_ATTEMPTS: integer(1, 1000),
  SUBSCRIPTION_BACKOFF_MAX_SECONDS: integer(1),
  LOG_LEVEL: oneOf('info', 'error', 'silent'),
  REACH_ENCOUNTER_DAYS: integer(0, 36500),
  REACH_EPISODE_DAYS: integer(0, 36500),
  BREAK_GLASS_MINUTES: integer(1, 1440),
  EXPORT_CONCURRENCY: integer(1, 64),
  EXPORT_RETENTION_MINUTES: integer(1),
  EXPORT_PAGE_SIZE: integer(1, 100000),
};

/**
 * Checks every variable that has a rule and returns the environment without empty values, so
 * `PORT=` means the default as an unset variable does. Throws ConfigError on the first bad value.
 */
export function checkEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, raw] of Object.entries(env)) {
    const value = raw?.trim();
    if (value === undefined || value === '') continue;
    RULES[name]?.(value, name);
    out[name] = value;
  }
  return out;
}
