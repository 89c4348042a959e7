import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../server/src/access/context.ts';
import { issueAccessToken } from '../../server/src/auth/access-token.ts';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { loadSigningKeys } from '../../server/src/auth/keys.ts';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { COMPILE_CACHE, HEAP_FLAGS } from '../../server/src/heap-flags.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { BENCH_SECRET_KEYS } from './secret-keys.ts';

/**
 * Real server processes (`node server/src/main.ts`) for the multi-process tests and the risk
 * benchmark: a database they share (a fresh PostgreSQL database, or a PGlite data directory that
 * one process at a time may open), a tenant and a backend client registered on it the way the
 * CLI does, and processes that can be started, stopped, or killed with SIGKILL.
 */
const ROOT = join(import.meta.dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = netServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface SharedDatabase {
  /** PostgreSQL URL, or undefined for PGlite in `dataDir`. */
  url?: string;
  dataDir?: string;
  drop(): Promise<void>;
}

/**
 * The database real server processes of one test file share: a fresh PostgreSQL database beside
 * DATABASE_URL when it is set, else a PGlite data directory in a new temporary folder.
 */
export async function freshProcessDatabase(label: string): Promise<SharedDatabase> {
  if (process.env.DATABASE_URL) return freshPostgres(process.env.DATABASE_URL, label);
  const dataDir = mkdtempSync(join(tmpdir(), `bh-${label}-`));
  return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** A new, empty PostgreSQL database next to `adminUrl`. */
export async function freshPostgres(adminUrl: string, prefix = 'p'): Promise<SharedDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export interface Tenancy {
  tenant: string;
  clientId: string;
  key: CryptoKey;
  kid: string;
  /** Mints a person's access token with the server's own key (as test/support/server.ts does). */
  personToken(baseUrl: string, claims: { scope: string; fhirUser: string; roles: Role[]; patient?: string; ttlSeconds?: number }): Promise<string>;
}

/**
 * Creates the tenant and registers a backend client on the database directly (what
 * `npm run cli -- tenant create` and `client register` do). With PGlite this must happen while no
 * server process has the data directory open.
 */
export async function setUpTenant(shared: SharedDatabase, tenant: string, scope = 'system/*.cruds system/*.*'): Promise<Tenancy> {
  const db = await openDatabase({ databaseUrl: shared.url, dataDir: shared.dataDir ?? 'memory', dbPoolSize: 2, secretKeys: BENCH_SECRET_KEYS });
  try {
    await createTenant(db, { id: tenant, name: `Test ${tenant}` });
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = randomUUID();
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES384' };
    const { clientId } = await registerBackendClient(db, { tenant, name: `test-${tenant}`, jwks: { keys: [jwk] }, scope });
    const keys = await loadSigningKeys(db);
    return {
      tenant,
      clientId,
      key: privateKey,
      kid,
      personToken: (baseUrl, c) =>
        issueAccessToken(keys, baseUrl, `${baseUrl}/fhir/R4`, { tenant, clientId: 'test-app', sub: c.fhirUser, fhirUser: c.fhirUser, scope: c.scope, roles: c.roles, patient: c.patient }, c.ttlSeconds ?? 3600),
    };
  } finally {
    await db.close();
  }
}

/** A backend-services token from the server at `baseUrl` (SMART Backend Services, client assertion). */
export async function systemToken(baseUrl: string, t: Tenancy, scope = 'system/*.cruds'): Promise<string> {
  const res = await requestToken({ baseUrl, clientId: t.clientId, key: { key: t.key, kid: t.kid, alg: 'ES384' }, scope });
  if (res.status !== 200 || typeof res.body.access_token !== 'string') throw new Error(`token request failed: ${res.status}`);
  return res.body.access_token;
}

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  /** Where this process listens. */
  url: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** SIGTERM and wait (a clean stop). */
  stop(): Promise<void>;
  /** SIGKILL and wait: no shutdown code runs. */
  kill(): Promise<void>;
}

export interface StartOptions {
  shared: SharedDatabase;
  /** The public base URL tokens name (iss, aud); defaults to this process's own address. */
  baseUrl?: string;
  port?: number;
  env?: Record<string, string>;
  /** Inherit stdout/stderr (the benchmark) or drop them (tests). */
  quiet?: boolean;
  /** Receives the process's stderr (its log lines) instead. */
  stderr?: (text: string) => void;
  /** Node/V8 flags before main.ts; default the server's own (server/src/heap-flags.ts), as `npm start` gives them. */
  execArgv?: readonly string[];
}

export async function startServerProcess(o: StartOptions): Promise<ServerProcess> {
  const port = o.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [...(o.execArgv ?? HEAP_FLAGS), join(ROOT, 'server/src/main.ts')], {
    env: {
      ...process.env,
      NODE_COMPILE_CACHE: join(ROOT, COMPILE_CACHE),
      PORT: String(port),
      BASE_URL: o.baseUrl ?? url,
      WORKERS: '1',
      SEED_DEMO: 'false',
      SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1,localhost',
      STATISTICS_INTERVAL_MS: '0',
      LOG_LEVEL: 'error',
      ...(o.shared.url ? { DATABASE_URL: o.shared.url } : { DATABASE_URL: '', DATA_DIR: o.shared.dataDir ?? '' }),
      ...o.env,
    },
    stdio: ['ignore', o.quiet === false ? 'inherit' : 'ignore', o.stderr ? 'pipe' : o.quiet === false ? 'inherit' : 'ignore'],
  });
  const onStderr = o.stderr;
  if (onStderr) proc.stderr?.on('data', (chunk: Buffer) => onStderr(chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false
    );
    if (ok) break;
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server process exited during start (${proc.exitCode ?? proc.signalCode})`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('server process did not answer /healthz within 120 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const signal = async (s: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(s);
    await exited;
  };
  return { proc, port, url, exited, stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}
