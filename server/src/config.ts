/**
 * Every setting the server reads, with its default, in one typed place. All come from the
 * environment so a container or a CI job configures the server without files.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkEnv } from './config-check.ts';

export interface Config {
  /** HTTP port. */
  port: number;
  /** The public base URL (scheme://host:port) used in links, `aud` checks and discovery. */
  baseUrl: string;
  /** PostgreSQL connection string; when empty the embedded PGlite database is used. */
  databaseUrl: string | undefined;
  /** PGlite data directory when DATABASE_URL is not set; "memory" keeps it in memory (tests). */
  dataDir: string;
  /** Server keys for secrets at rest, `id:base64` entries, the first one writing (db/secret-keys.ts). */
  secretKeys: string | undefined;
  /** File holding those entries, one a line (default on PGlite: `<dataDir>.secret-keys`). */
  secretKeysFile: string | undefined;
  /** Create the key file when missing (default: yes on PGlite, no on PostgreSQL). */
  secretKeysGenerate: boolean | undefined;
  /** Connections in the pg pool. Small by default: PostgreSQL does best with few busy connections. */
  dbPoolSize: number;
  /** Largest request body accepted, in bytes; larger bodies get 413 before they are read. */
  maxBodyBytes: number;
  /** A request body that sends nothing for this long gets 408 and its connection closed (ms). */
  bodyTimeoutMs: number;
  /** Longest time to receive a whole request, headers and body (ms): Node's server.requestTimeout. */
  requestTimeoutMs: number;
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (req.ip): a hop count, or
   * their addresses and CIDR ranges. 0 (the default) trusts none: the socket's address counts.
   */
  trustProxy: number | string[];
  /** Access-token lifetime for backend-service (system) tokens, seconds. SMART caps it at 300. */
  systemTokenSeconds: number;
  /** Access-token lifetime for person (SMART App Launch) tokens, seconds; at most 3600. */
  personTokenSeconds: number;
  /** Refresh-token lifetime for offline_access grants, seconds (each rotation starts it anew). */
  offlineRefreshSeconds: number;
  /** Absolute lifetime of an offline_access grant, seconds from sign-in: rotation never extends it. */
  offlineGrantMaxSeconds: number;
  /** Refresh-token lifetime for online_access grants, seconds; they also end with the user's session. */
  onlineRefreshSeconds: number;
  /** Tenant for RFC 7591 registrations that name none (empty: the request must carry `tenant`). */
  defaultTenant: string | undefined;
  /** Requests per minute per client IP at the token, introspection and revocation endpoints (counted in the database, shared by all processes; 0 = no limit). */
  tokenRateLimitPerIp: number;
  /** Requests per minute per client id at the token, introspection and revocation endpoints (shared; 0 = no limit). */
  tokenRateLimitPerClient: number;
  /** Dynamic registrations per hour per client IP (shared; 0 = no limit). */
  registrationRateLimitPerIp: number;
  /** Server processes sharing the port when on PostgreSQL (PGlite always runs one). */
  workers: number;
  /**
   * Seed the demo clinic (public passwords, a published TOTP secret, a system/*.cruds client) when
   * the database is empty. SEED_DEMO=true|false; unset means yes on the embedded database only,
   * and never where NODE_ENV=production.
   */
  seedDemo: boolean;
  /** NODE_ENV=production: the demo clinic is refused even when asked for. */
  production: boolean;
  /** How often to check whether planner statistics need an ANALYZE (ms); 0 turns it off. */
  statisticsIntervalMs: number;
  /**
   * Longest one database statement of the server may run, ms (PostgreSQL `statement_timeout`);
   * 0 leaves the database's own setting. Not applied to migrations, statistics maintenance or the
   * CLI. PGlite cannot interrupt a statement: there the search limits are the defence.
   */
  statementTimeoutMs: number;
  /** Default and maximum page size for search. */
  defaultCount: number;
  maxCount: number;
  /** Login sessions (auth/session): idle timeout, seconds (OWASP: 15 min for sensitive data). */
  sessionIdleSeconds: number;
  /** Login sessions: absolute lifetime, seconds, however active the session is. */
  sessionMaxSeconds: number;
  /** How often the risk escalation loop looks for Tasks past their acknowledgement deadline (ms); 0 = never (tests drive it). */
  riskPollMs: number;
  /** How often the subscription delivery loop looks for due notifications besides being woken by commits (ms); 0 = never. */
  subscriptionPollMs: number;
  /**
   * Hosts (names or IP literals) a rest-hook endpoint may use even over http or when they
   * resolve to loopback/private addresses; everything else must be https to a public address.
   */
  subscriptionAllowedHosts: string[];
  /**
   * Hosts (names or IP literals) a client's JWK Set URL may use even when they resolve to
   * loopback/private addresses; all others must resolve only to public addresses.
   */
  jwksAllowedHosts: string[];
  /** Longest a rest-hook receiver may take to answer, seconds (caps each Subscription's timeout). */
  subscriptionMaxTimeoutSeconds: number;
  /** Failed notifications in a row before a subscription goes to `error`. */
  subscriptionMaxAttempts: number;
  /** Longest wait between retries of a failed notification, seconds (the backoff doubles from 1 s up to this). */
  subscriptionBackoffMaxSeconds: number;
  /** The built SMART apps served at /apps/ (default apps/dist, written by apps/build.ts). */
  appsDir: string | undefined;
  /** Bearer token that opens /metrics on the public port (unset: no /metrics there). */
  metricsToken: string | undefined;
  /** A port of its own for /metrics, unauthenticated (unset: none). */
  metricsPort: number | undefined;
  /** On SIGTERM, how long requests in flight get to finish before their connections are cut (ms). */
  shutdownTimeoutMs: number;
  /** On SIGTERM, how long /readyz answers 503 before the listener closes (ms), for balancers to notice. */
  shutdownDelayMs: number;
  /**
   * Where Bulk Data $export files are written (bulk/): beside the embedded database's data
   * directory (`<DATA_DIR>-exports`), else under the system's temporary directory.
   */
  exportDir: string;
  /** $export jobs one process runs at a time. */
  exportConcurrency: number;
  /** Resources an $export reads a page (one statement, one progress save: the resume granularity). */
  exportPageSize: number;
  /** Minutes a finished $export's files are kept (from its completion) before the sweeper deletes them. */
  exportRetentionMinutes: number;
}

/** Throws ConfigError (config-check.ts), naming the variable, when a setting is malformed. */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = checkEnv(rawEnv);
  const port = Number(env.PORT ?? 8080);
  return {
    port,
    baseUrl: (env.BASE_URL ?? `http://localhost:${port}`).replace(/\/$/, ''),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR ?? './data',
    secretKeys: env.SECRET_KEYS || undefined,
    secretKeysFile: env.SECRET_KEYS_FILE || undefined,
    secretKeysGenerate: env.SECRET_KEYS_GENERATE ? env.SECRET_KEYS_GENERATE === 'true' : undefined,
    dbPoolSize: Number(env.DB_POOL_SIZE ?? 10),
    maxBodyBytes: Number(env.MAX_BODY_BYTES ?? 16 * 1024 * 1024),
    bodyTimeoutMs: Number(env.BODY_TIMEOUT_MS ?? 30_000),
    requestTimeoutMs: Number(env.REQUEST_TIMEOUT_MS ?? 300_000),
    trustProxy: /^\d+$/.test(env.TRUST_PROXY ?? '0') ? Number(env.TRUST_PROXY ?? 0) : hostList(env.TRUST_PROXY),
    systemTokenSeconds: Math.min(300, Number(env.SYSTEM_TOKEN_SECONDS ?? 300)),
    personTokenSeconds: Math.min(3600, Number(env.PERSON_TOKEN_SECONDS ?? 3600)),
    offlineRefreshSeconds: Number(env.OFFLINE_REFRESH_SECONDS ?? 30 * 24 * 3600),
    offlineGrantMaxSeconds: Number(env.OFFLINE_GRANT_MAX_SECONDS ?? 90 * 24 * 3600),
    onlineRefreshSeconds: Number(env.ONLINE_REFRESH_SECONDS ?? 12 * 3600),
    defaultTenant: env.DEFAULT_TENANT || undefined,
    tokenRateLimitPerIp: Number(env.TOKEN_RATE_LIMIT_PER_IP ?? 1200),
    tokenRateLimitPerClient: Number(env.TOKEN_RATE_LIMIT_PER_CLIENT ?? 600),
    registrationRateLimitPerIp: Number(env.REGISTRATION_RATE_LIMIT_PER_IP ?? 100),
    workers: Math.max(1, Number(env.WORKERS ?? availableParallelism())),
    seedDemo: env.SEED_DEMO === undefined || env.SEED_DEMO === '' ? !env.DATABASE_URL && env.NODE_ENV !== 'production' : env.SEED_DEMO === 'true',
    production: env.NODE_ENV === 'production',
    statisticsIntervalMs: Number(env.STATISTICS_INTERVAL_MS ?? 10_000),
    statementTimeoutMs: Math.max(0, Number(env.STATEMENT_TIMEOUT_MS ?? 30_000)),
    defaultCount: 20,
    maxCount: 1000,
    sessionIdleSeconds: Number(env.SESSION_IDLE_SECONDS ?? 15 * 60),
    sessionMaxSeconds: Number(env.SESSION_MAX_SECONDS ?? 12 * 3600),
    riskPollMs: Number(env.RISK_POLL_MS ?? 1000),
    subscriptionPollMs: Number(env.SUBSCRIPTION_POLL_MS ?? 1000),
    subscriptionAllowedHosts: hostList(env.SUBSCRIPTION_ALLOWED_HOSTS),
    jwksAllowedHosts: hostList(env.JWKS_ALLOWED_HOSTS),
    subscriptionMaxTimeoutSeconds: Math.max(1, Number(env.SUBSCRIPTION_MAX_TIMEOUT_SECONDS ?? 30)),
    subscriptionMaxAttempts: Math.max(1, Number(env.SUBSCRIPTION_MAX_ATTEMPTS ?? 8)),
    subscriptionBackoffMaxSeconds: Math.max(1, Number(env.SUBSCRIPTION_BACKOFF_MAX_SECONDS ?? 300)),
    appsDir: env.APPS_DIR || undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    metricsPort: env.METRICS_PORT ? Number(env.METRICS_PORT) : undefined,
    shutdownTimeoutMs: Math.max(0, Number(env.SHUTDOWN_TIMEOUT_MS ?? 10_000)),
    shutdownDelayMs: Math.max(0, Number(env.SHUTDOWN_DELAY_MS ?? 0)),
    exportDir: env.EXPORT_DIR ?? defaultExportDir(env),
    exportConcurrency: Number(env.EXPORT_CONCURRENCY ?? 1),
    exportRetentionMinutes: Number(env.EXPORT_RETENTION_MINUTES ?? 60),
    exportPageSize: Number(env.EXPORT_PAGE_SIZE ?? 1000),
  };
}

function defaultExportDir(env: NodeJS.ProcessEnv): string {
  const dataDir = env.DATA_DIR ?? './data';
  return !env.DATABASE_URL && dataDir !== 'memory' ? `${dataDir.replace(/\/+$/, '')}-exports` : join(tmpdir(), 'bh-fhir-exports');
}

function hostList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
}
