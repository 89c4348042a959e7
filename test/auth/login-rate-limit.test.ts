import { afterAll, beforeAll, expect, it } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { Browser } from '../support/login.ts';
import { LOGIN_LIMIT_PER_IP, LOGIN_LIMIT_PER_USERNAME } from '../../server/src/auth/session/rate-limit.ts';

/** Login attempts are rate limited per username and per client IP (429 with Retry-After). */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await server.ensureTenant('rl');
}, 60_000);
afterAll(async () => server?.close());

async function attempt(b: Browser, html: string, username: string) {
  return b.submit(html, { tenant: 'rl', username, password: 'wrong-password' });
}

it('per username, then per IP', async () => {
  const b = new Browser(server.baseUrl);
  const page = (await b.get('/auth/login?tenant=rl')).html;
  for (let i = 0; i < LOGIN_LIMIT_PER_USERNAME; i++) expect((await attempt(b, page, 'target')).status).toBe(401);
  const limited = await attempt(b, page, 'target');
  expect(limited.status).toBe(429);
  expect(limited.headers.get('retry-after')).toBeTruthy();
  expect(limited.html).toContain('role="alert"');
  // Other usernames still get through until the IP's budget is spent.
  let used = LOGIN_LIMIT_PER_USERNAME + 1;
  while (used < LOGIN_LIMIT_PER_IP) {
    expect((await attempt(b, page, `user-${used}`)).status).toBe(401);
    used++;
  }
  expect((await attempt(b, page, 'someone-else')).status).toBe(429);
}, 120_000);
