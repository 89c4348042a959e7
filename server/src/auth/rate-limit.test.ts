import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import { loadConfig } from '../config.ts';
import { authRouter } from './index.ts';
import { loadSigningKeys } from './keys.ts';
import { RateLimit } from './rate-limit.ts';

describe('RateLimit (in memory, fixed window)', () => {
  test('counts per key and window; says how long to wait', () => {
    let now = 0;
    const rl = new RateLimit(2, 60_000, () => now);
    expect([rl.hit('a'), rl.hit('a'), rl.hit('b')]).toEqual([0, 0, 0]);
    expect(rl.hit('a')).toBe(60);
    now = 30_000;
    expect(rl.hit('a')).toBe(30);
    now = 60_000;
    expect(rl.hit('a')).toBe(0);
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

  test('registration, per IP', async () => {
    const post = () => fetch(`${base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect((await post()).status).toBe(400);
    expect((await post()).status).toBe(400);
    const res = await post();
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });
});
