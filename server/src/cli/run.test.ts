import { exportJWK, generateKeyPair } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import type { Database } from '../db/database.ts';
import { runCli } from './run.ts';

let t: TestDatabase;
let dir: string;
let opened = 0;

/** Runs the CLI against the test database; the CLI closes what it opens, so hand it a non-closing wrapper. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const db: Database = { ...t.db, query: t.db.query.bind(t.db), transaction: t.db.transaction.bind(t.db), close: async () => undefined };
  const code = await runCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    openDb: async () => {
      opened++;
      return db;
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  t = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
  writeFileSync(join(dir, 'jwk.json'), JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'k2' }));
  writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'k3' }] }));
  writeFileSync(join(dir, 'bad.json'), '{ not json');
});
afterAll(async () => {
  await t?.drop();
});

describe('cli', () => {
  test('tenant create and list', async () => {
    expect(await cli('tenant', 'create', 'north', '--name', 'North Clinic')).toMatchObject({ code: 0, out: 'Created tenant north (North Clinic)' });
    expect(await cli('tenant', 'create', 'north')).toMatchObject({ code: 1, err: 'Error: Tenant "north" already exists' });
    const list = await cli('tenant', 'list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^ID\s+NAME\s+CREATED\nnorth\s+North Clinic\s+\d{4}-/);
  });

  test('client register prints the client id; client list shows it', async () => {
    const r = await cli('client', 'register', '--tenant', 'north', '--name', 'Sync', '--jwks-file', join(dir, 'jwks.json'), '--scope', 'system/*.rs');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^[0-9a-f-]{36}$/);
    const single = await cli('client', 'register', '--tenant', 'north', '--name', 'One key', '--jwks-file', join(dir, 'jwk.json'), '--id', 'one-key');
    expect(single).toMatchObject({ code: 0, out: 'one-key' });
    const byUrl = await cli('client', 'register', '--tenant', 'north', '--name', 'Url', '--jwks-url', 'https://client.example/jwks.json', '--id', 'by-url');
    expect(byUrl).toMatchObject({ code: 0, out: 'by-url' });
    const list = await cli('client', 'list', '--tenant', 'north');
    expect(list.code).toBe(0);
    expect(list.out).toContain(r.out);
    expect(list.out).toMatch(/one-key\s+One key\s+backend-service\s+inline \(1 key\)\s+system\/\*\.read\s+-\s+-\s+enabled/);
    expect(list.out).toMatch(/by-url\s+Url\s+backend-service\s+https:\/\/client\.example\/jwks\.json/);
  });

  test.each([
    [['client', 'register', '--tenant', 'north', '--name', 'X', '--jwks-file', 'PRIVATE'], 1, /private key material/],
    [['client', 'register', '--tenant', 'north', '--name', 'X', '--jwks-file', 'BAD'], 1, /is not JSON/],
    [['client', 'register', '--tenant', 'north', '--name', 'X', '--jwks-file', '/nonexistent/file.json'], 1, /Cannot read --jwks-file/],
    [['client', 'register', '--tenant', 'south', '--name', 'X', '--jwks-url', 'https://x.example/j'], 1, /Tenant "south" does not exist/],
    [['client', 'register', '--tenant', 'north', '--name', 'X', '--jwks-url', 'https://x.example/j', '--scope', 'patient/*.rs'], 1, /not a SMART system scope/],
  ])('refused: %j', async (argv, code, message) => {
    const args = argv.map((a) => (a === 'PRIVATE' ? join(dir, 'private.json') : a === 'BAD' ? join(dir, 'bad.json') : a));
    const r = await cli(...args);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  test.each([
    [[], /Usage/],
    [['tenant'], /Unknown command "tenant"/],
    [['tenant', 'create'], /needs a tenant id/],
    [['tenant', 'create', 'a', 'b'], /takes 1 argument/],
    [['tenant', 'list', '--tenant', 'x'], /--tenant is not an option of "tenant list"/],
    [['client', 'list'], /--tenant is required/],
    [['client', 'register', '--tenant', 'north', '--name', 'X'], /exactly one of --jwks-file or --jwks-url/],
    [['client', 'register', '--tenant', 'north', '--jwks-url', 'https://x.example/j'], /--name is required/],
    [['client', 'delete'], /Unknown command/],
    [['tenant', 'list', '--bogus'], /Unknown option '--bogus'/],
  ])('usage error: %j → exit 2, database untouched', async (argv, message) => {
    const before = opened;
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(opened).toBe(before);
  });

  test('--help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/client register --tenant T --name NAME/);
  });
});
