import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { runCli } from '../../server/src/cli/run.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// What the README tells an integrator to do: make a key, register it, get a token, call the API.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
      openDb: () => Promise.reject(new Error('these commands must not open the database')),
    },
  };
}

test('client keygen + register + token gives a working access token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keygen-'));
  const keyFile = join(dir, 'client.jwk');
  const kg = io();
  expect(await runCli(['client', 'keygen', '--out', keyFile], kg.io)).toBe(0);
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  const publicJwks = JSON.parse(kg.out.join('\n'));
  expect(publicJwks.keys[0].d).toBeUndefined(); // only the public half is printed
  expect(JSON.parse(readFileSync(keyFile, 'utf8')).d).toBeDefined();

  await createTenant(s.db, { id: 'cli-clinic', name: 'CLI clinic' });
  const { clientId } = await registerBackendClient(s.db, { tenant: 'cli-clinic', name: 'cli', jwks: publicJwks, scope: 'system/*.read' });
  const tk = io();
  expect(await runCli(['token', '--client', clientId, '--key', keyFile, '--url', s.baseUrl, '--scope', 'system/Patient.read'], tk.io)).toBe(0);
  const token = tk.out[0];
  const res = await s.fhir('Patient', { token });
  expect(res.status).toBe(200);
  // A write is outside the granted scope.
  expect((await s.fhir('Patient', { token, method: 'POST', json: { resourceType: 'Patient' } })).status).toBe(403);
});

test('token reports the endpoint error for an unregistered client', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keygen-'));
  const keyFile = join(dir, 'client.jwk');
  await runCli(['client', 'keygen', '--out', keyFile], io().io);
  const tk = io();
  expect(await runCli(['token', '--client', 'nobody', '--key', keyFile, '--url', s.baseUrl], tk.io)).toBe(1);
  expect(tk.err.join('\n')).toMatch(/401.*invalid_client/);
});
