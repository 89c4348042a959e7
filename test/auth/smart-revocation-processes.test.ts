import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerSmartApp } from '../../server/src/auth/clients/smart-app.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { mintCode, newVerifier, postForm, s256 } from './smart-helpers.ts';

// RFC 7009 §2: a revocation takes effect at once. With PostgreSQL the server runs several
// processes, each caching verified tokens for up to a minute; a token revoked through one process
// must stop working on another at once (LISTEN/NOTIFY, auth/revocation-channel.ts). Here the
// second process is the real server (server/src/main.ts) on the same database. PGlite lives in
// one process, so there the same check runs against the one process.

const TENANT = 'smart-revocation';
const REDIRECT = 'https://app.example/cb';
let s: TestServer;
let other: ChildProcess | undefined;
/** Base URL of the process the token is used on. */
let useBase: string;
let clientId: string;
let userId: string;
let patientId: string;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = netServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  s = await startTestServer();
  await s.ensureTenant(TENANT);
  const sys = await s.token('system/*.cruds', TENANT);
  patientId = ((await (await s.fhir('Patient', { method: 'POST', token: sys, json: { resourceType: 'Patient' } })).json()) as { id: string }).id;
  userId = (await createUser(s.db, { tenant: TENANT, username: 'p', password: 'a long password', roles: ['patient'], fhirUser: `Patient/${patientId}` })).id;
  clientId = (await registerSmartApp(s.db, { tenant: TENANT, name: 'app', redirectUris: [REDIRECT], authMethod: 'none', scope: 'launch/patient patient/*.rs offline_access' })).clientId;
  useBase = s.baseUrl;
  if (process.env.DATABASE_URL) {
    const db = (await s.db.query<{ d: string }>('SELECT current_database() AS d')).rows[0].d;
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${db}`;
    const port = await freePort();
    other = spawn(process.execPath, [join(import.meta.dirname, '../../server/src/main.ts')], {
      // Same public base URL (tokens name it as iss and aud), its own port, one worker.
      env: { ...process.env, DATABASE_URL: url.toString(), PORT: String(port), BASE_URL: s.baseUrl, WORKERS: '1', SEED_DEMO: 'false', STATISTICS_INTERVAL_MS: '0', LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    useBase = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 150; i++) {
      const ok = await fetch(`${useBase}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Let the LISTEN connection come up.
    await new Promise((r) => setTimeout(r, 500));
  }
}, 60_000);
afterAll(async () => {
  if (other && other.exitCode === null) {
    const exited = new Promise((r) => other?.once('exit', r));
    other.kill('SIGTERM');
    await exited;
  }
  await s?.close();
});

describe('revocation across server processes', () => {
  test('a token cached by another process stops working there as soon as it is revoked here', async () => {
    const verifier = newVerifier();
    const code = await mintCode(s.db, { tenant: TENANT, clientId, userId, redirectUri: REDIRECT, scope: 'launch/patient patient/*.rs offline_access', codeChallenge: s256(verifier), context: { patient: patientId, userId, fhirUser: `Patient/${patientId}`, roles: ['patient'] } });
    const res = await postForm(`${s.baseUrl}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId });
    expect(res.status).toBe(200);
    const { access_token: token } = (await res.json()) as { access_token: string };
    const read = () => fetch(`${useBase}/fhir/R4/Patient/${patientId}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect((await read()).status).toBe(200);
    expect((await read()).status).toBe(200); // now cached in that process

    const revoked = await postForm(`${s.baseUrl}/auth/revoke`, { token, client_id: clientId });
    expect(revoked.status).toBe(200);
    // NOTIFY is delivered asynchronously; allow it a moment, far less than the one-minute cache.
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = (await read()).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
  });

  test('a user disabled with the CLI here loses their tokens cached by another process at once (issue 10 item 1)', async () => {
    const verifier = newVerifier();
    const code = await mintCode(s.db, { tenant: TENANT, clientId, userId, redirectUri: REDIRECT, scope: 'launch/patient patient/*.rs offline_access', codeChallenge: s256(verifier), context: { patient: patientId, userId, fhirUser: `Patient/${patientId}`, roles: ['patient'] } });
    const res = await postForm(`${s.baseUrl}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId });
    expect(res.status).toBe(200);
    const { access_token: token } = (await res.json()) as { access_token: string };
    const read = () => fetch(`${useBase}/fhir/R4/Patient/${patientId}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect((await read()).status).toBe(200);
    expect((await read()).status).toBe(200); // now cached in that process

    const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
    const out: string[] = [];
    expect(await runCli(['user', 'disable', '--tenant', TENANT, '--username', 'p'], { out: (l) => out.push(l), err: (l) => out.push(l), openDb: async () => db })).toBe(0);
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = (await read()).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
  });
});
