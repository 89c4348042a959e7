import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import { loadConfig } from '../config.ts';
import { authRouter } from './index.ts';
import { loadSigningKeys } from './keys.ts';
import { RateLimit } from './rate-limit.ts';

describe('RateLimit (fixed windows in the database)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  test('counts per key and window; says how long to wait', async () => {
    let now = 0;
    const rl = new RateLimit(t.db, 'unit', 2, 60_000, () => now);
    expect([await rl.hit('a'), await rl.hit('a'), await rl.hit('b')]).toEqual([0, 0, 0]);
    expect(await rl.hit('a')).toBe(60);
    now = 30_000;
    expect(await rl.hit('a')).toBe(30);
    now = 60_000;
    expect(await rl.hit('a')).toBe(0);
  });

  test('two limiters over one database (two processes, two nodes) share one count', async () => {
    const now = () => 1_000_000;
    const a = new RateLimit(t.db, 'shared', 3, 60_000, now);
    const b = new RateLimit(t.db, 'shared', 3, 60_000, now);
    expect([await a.hit('10.0.0.1'), await b.hit('10.0.0.1'), await a.hit('10.0.0.1')]).toEqual([0, 0, 0]);
    expect(await b.hit('10.0.0.1')).toBeGreaterThan(0);
  });

  test('stores no address or username, and sweeps windows that ended', async () => {
    let now = 5_000_000;
    const rl = new RateLimit(t.db, 'sweep', 5, 60_000, () => now);
    await rl.hit('192.0.2.55');
    const stored = await t.db.query<{ key: string }>(`SELECT key FROM rate_limit_window WHERE bucket = 'sweep'`);
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0].key).not.toContain('192.0.2.55');
    now += 120_000;
    await rl.hit('192.0.2.56');
    await new Promise((r) => setTimeout(r, 100));
    const left = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM rate_limit_window WHERE bucket = 'sweep'`);
    expect(left.rows[0].n).toBe(1);
  });
});

describe('the back-channel endpoints answer 429 temporarily_unavailable over the limit', () => {
  let t: TestDatabase;
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    t = await freshDatabase();
    const config = { ...loadConfig({}), tokenRateLimitPerIp: 5, tokenRateLimitPerClient: 2, registrationRateLimitPerIp: 2 };
    const app = express();
    app.use(authRouter({ db: t.db, config, keys: await loadSigningKeys(t.db) }));
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server?.close(() => r()));
    await t?.drop();
  });

  test('token endpoint: per claimed client id, then per IP', async () => {
    const post = (body: string) => fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const asA = 'grant_type=authorization_code&code=x&client_id=a';
    expect((await post(asA)).status).toBe(401);
    expect((await post(asA)).status).toBe(401);
    const limited = await post(asA);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('cache-control')).toBe('no-store');
    expect(await limited.json()).toMatchObject({ error: 'temporarily_unavailable' });
    // Another client from the same address is not held back by a's limit...
    expect((await post('grant_type=authorization_code&code=x&client_id=b')).status).toBe(401);
    // ...until the address itself reaches its limit (5 per minute here).
    expect((await post('grant_type=password')).status).toBe(400);
    expect((await post('grant_type=password')).status).toBe(429);
  });

  test('a second server process over the same database continues the count', async () => {
    const config = { ...loadConfig({}), tokenRateLimitPerIp: 5, tokenRateLimitPerClient: 2, registrationRateLimitPerIp: 2 };
    const app = express();
    app.use(authRouter({ db: t.db, config, keys: await loadSigningKeys(t.db) }));
    const other = http.createServer(app);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=password',
      });
      // This address used up its 5 token requests a minute on the first server above.
      expect(res.status).toBe(429);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  test('registration, per IP', async () => {
    const post = () => fetch(`${base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect((await post()).status).toBe(400);
    expect((await post()).status).toBe(400);
    const res = await post();
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });
});
