import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { auditEvents } from '../audit/support.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// Behind a load balancer the socket address is the proxy's. TRUST_PROXY names the proxies whose
// X-Forwarded-For is believed; then rate limits and AuditEvents see the client. Unset, the
// header is ignored (anyone could send it).
const introspect = (s: TestServer, forwardedFor: string) =>
  fetch(`${s.baseUrl}/auth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
    body: 'token=x',
  });

async function writeWith(s: TestServer, forwardedFor: string, id: string): Promise<string | undefined> {
  const res = await s.fhir(`Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id }, headers: { 'x-forwarded-for': forwardedFor } });
  expect(res.status).toBe(201);
  for (let i = 0; i < 100; i++) {
    const e = (await auditEvents(s.db)).find((a) => a.entity?.some((x) => x.what?.reference?.startsWith(`Patient/${id}/`)));
    if (e) return e.agent?.[0]?.network?.address;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

describe('TRUST_PROXY=127.0.0.1 (the proxy in front of this server)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ TRUST_PROXY: '127.0.0.1', TOKEN_RATE_LIMIT_PER_IP: '2' });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('the rate limit counts per forwarded client address', async () => {
    expect((await introspect(s, '203.0.113.7')).status).not.toBe(429);
    expect((await introspect(s, '203.0.113.7')).status).not.toBe(429);
    expect((await introspect(s, '203.0.113.7')).status).toBe(429);
    // Another client behind the same proxy has its own count.
    expect((await introspect(s, '203.0.113.8')).status).not.toBe(429);
  });

  test('the AuditEvent records the forwarded client address', async () => {
    expect(await writeWith(s, '198.51.100.23', 'behind-proxy')).toBe('198.51.100.23');
  });
});

describe('TRUST_PROXY unset', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ TOKEN_RATE_LIMIT_PER_IP: '2' });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('X-Forwarded-For is ignored: the rate limit counts the socket address', async () => {
    expect((await introspect(s, '203.0.113.7')).status).not.toBe(429);
    expect((await introspect(s, '203.0.113.8')).status).not.toBe(429);
    expect((await introspect(s, '203.0.113.9')).status).toBe(429);
  });

  test('the AuditEvent records the socket address', async () => {
    expect(await writeWith(s, '198.51.100.23', 'direct')).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});
