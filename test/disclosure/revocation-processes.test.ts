import type { Consent, Resource } from '@medplum/fhirtypes';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { PART2, PAYER, R, TENANT, backendClients, consentFor, create } from './fixture.ts';

/**
 * A revoked Consent takes effect on every server process at once, not after the verified-token
 * cache's minute: the Consent write hook sends a NOTIFY in its transaction, which the other
 * processes receive on the token-revocation channel (clinical/consent/hook.ts). With PostgreSQL
 * the recipient's token is used on a second, real server process (server/src/main.ts) on the same
 * database; PGlite lives in one process, so there the same check runs against that process.
 */
let s: TestServer;
let other: ChildProcess | undefined;
let useBase: string;

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
  useBase = s.baseUrl;
  if (process.env.DATABASE_URL) {
    const db = (await s.db.query<{ d: string }>('SELECT current_database() AS d')).rows[0].d;
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${db}`;
    const port = await freePort();
    other = spawn(process.execPath, [join(import.meta.dirname, '../../server/src/main.ts')], {
      env: { ...process.env, DATABASE_URL: url.toString(), PORT: String(port), BASE_URL: s.baseUrl, WORKERS: '1', SEED_DEMO: 'false', STATISTICS_INTERVAL_MS: '0', LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    useBase = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 150; i++) {
      if (await fetch(`${useBase}/healthz`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 500)); // the LISTEN connection comes up
  }
}, 90_000);

afterAll(async () => {
  if (other && other.exitCode === null) {
    const exited = new Promise((r) => other?.once('exit', r));
    other.kill('SIGTERM');
    await exited;
  }
  await s?.close();
});

describe('Consent revocation across server processes', () => {
  test("a recipient's token cached by another process stops getting the records as soon as the Consent is revoked here", async () => {
    const admin = await s.token('system/*.cruds', TENANT);
    await create(s, admin, { resourceType: 'Organization', id: 'clinic', name: 'Clinic' });
    await create(s, admin, { resourceType: 'Organization', id: 'payer', name: 'Payer' });
    const patient = (await create(s, admin, { resourceType: 'Patient', name: [{ family: 'Processes' }] })).id;
    const consent = await create(s, admin, consentFor(patient, { labels: [PART2, R] }));
    const record = (await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient}` }, code: { text: 'sud' }, meta: { security: [PART2, R] } } as Resource)).id;
    const { register, token } = await backendClients(s);
    const payer = await token(await register('--organization', PAYER, '--purposes', 'HPAYMT'), 'system/*.rs purpose/HPAYMT');
    const read = () => fetch(`${useBase}/fhir/R4/Observation/${record}`, { headers: { authorization: `Bearer ${payer}`, accept: 'application/fhir+json' } });
    expect((await read()).status).toBe(200);
    expect((await read()).status).toBe(200); // now cached in that process

    const revoked = await s.fhir(`Consent/${consent.id}`, { token: admin, method: 'PUT', json: { ...consent, status: 'inactive' } as Consent });
    expect(revoked.status).toBe(200);
    // NOTIFY is delivered asynchronously: allow it a moment, far less than the one-minute cache.
    let status = 0;
    for (let i = 0; i < 20 && status !== 404; i++) {
      status = (await read()).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(404);
  });
});
