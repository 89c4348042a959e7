import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// The operator's surface (README "Operations"): liveness and readiness probes, Prometheus
// metrics behind METRICS_TOKEN, and the access log (one line per request, by request id, no PHI).
// Graceful shutdown under load, the metrics port and the cluster: shutdown.test.ts.

const METRICS_TOKEN = 'metrics-test-token-0123456789';
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ METRICS_TOKEN });
}, 120_000);
afterAll(async () => {
  await s?.close();
});

/** Runs `fn` with this process's stderr captured (the server logs there) at LOG_LEVEL=info. */
async function captureLog(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  const level = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'info';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
    // The access-log line is written when the response has ended on the server's side.
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.stderr.write = write;
    process.env.LOG_LEVEL = level;
  }
  return chunks
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('probes', () => {
  test('/healthz says the process is alive, never from a cache', async () => {
    const res = await fetch(`${s.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ ok: true, status: 'live' });
  });

  test('/readyz is 200 with the database migrated, and 503 naming a migration that is not applied', async () => {
    const ready = await fetch(`${s.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, status: 'ready' });

    const last = (await s.db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migration ORDER BY version DESC LIMIT 1')).rows[0];
    await s.db.query('DELETE FROM schema_migration WHERE version = $1', [last.version]);
    try {
      const res = await fetch(`${s.baseUrl}/readyz`);
      expect(res.status).toBe(503);
      const o = (await res.json()) as { resourceType: string; issue: { code: string; diagnostics: string }[] };
      expect(o.resourceType).toBe('OperationOutcome');
      expect(o.issue[0].code).toBe('transient');
      expect(o.issue[0].diagnostics).toContain(last.name);
    } finally {
      await s.db.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [last.version, last.name]);
    }
    expect((await fetch(`${s.baseUrl}/readyz`)).status).toBe(200);
  });

  test('/readyz is 503 once shutdown has begun, while /healthz stays 200', async () => {
    s.server.lifecycle.draining = true;
    try {
      const res = await fetch(`${s.baseUrl}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { issue: { diagnostics: string }[] }).issue[0].diagnostics).toContain('shutting down');
      expect(res.headers.get('connection')).toBe('close');
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      s.server.lifecycle.draining = false;
    }
  });
});

describe('/metrics', () => {
  const scrape = (authorization?: string) => fetch(`${s.baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });

  test('needs the METRICS_TOKEN bearer token', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${METRICS_TOKEN}`]) {
      const res = await scrape(auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(await res.text()).not.toContain('http_requests_total');
    }
  });

  test('counts and times requests by interaction and status class, and reads the gauges', async () => {
    const before = await (await scrape(`Bearer ${METRICS_TOKEN}`)).text();
    const count = (text: string, labels: string) => Number(new RegExp(`^http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    for (let i = 0; i < 3; i++) expect((await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).status).toBe(201);
    expect((await s.fhir('Patient/nope')).status).toBe(404);

    const res = await scrape(`Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(count(text, 'interaction="create",status_class="2xx"') - count(before, 'interaction="create",status_class="2xx"')).toBe(3);
    expect(count(text, 'interaction="read",status_class="4xx"') - count(before, 'interaction="read",status_class="4xx"')).toBe(1);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toMatch(/^http_request_duration_seconds_bucket\{interaction="create",le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^http_request_duration_seconds_count\{interaction="create"\} \d+$/m);
    expect(text).toMatch(/^audit_buffer_depth \d+$/m);
    expect(text).toMatch(/^subscription_notifications_pending \d+$/m);
    expect(text).toMatch(/^http_requests_in_flight 1$/m); // the scrape itself
    expect(text).toMatch(new RegExp(`^process_resident_memory_bytes\\{pid="${process.pid}"\\} \\d+$`, 'm'));
    expect(text).toMatch(/^nodejs_heap_used_bytes\{pid="\d+"\} \d+$/m);
    // Where the resident size goes: V8's committed heap (never below what is in use) and Buffers.
    const gauge = (name: string) => Number(new RegExp(`^${name}\\{pid="${process.pid}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(gauge('nodejs_heap_total_bytes')).toBeGreaterThanOrEqual(gauge('nodejs_heap_used_bytes'));
    expect(gauge('nodejs_external_memory_bytes')).toBeGreaterThan(0);
    // The pg pool's connections; PGlite has no pool.
    expect(/^db_pool_connections\{state="total"\} \d+$/m.test(text)).toBe(s.db.kind === 'postgres');
    expect(/^db_pool_connections\{state="waiting"\} \d+$/m.test(text)).toBe(s.db.kind === 'postgres');
  });
});

describe('/metrics unconfigured', () => {
  test('is not served at all without METRICS_TOKEN (nor on the public port with METRICS_PORT)', async () => {
    const plain = await startTestServer({ METRICS_PORT: '0' });
    try {
      expect((await fetch(`${plain.baseUrl}/metrics`)).status).toBe(404);
      expect((await fetch(`${plain.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(404);
    } finally {
      await plain.close();
    }
  }, 120_000);
});

describe('access log', () => {
  test('one line per request with its request id, interaction, status and tenant; never the query or body', async () => {
    const token = await s.token();
    const ids: string[] = [];
    const lines = await captureLog(async () => {
      const search = await s.fhir('Patient?name=Secretname&birthdate=1970-01-01', { token, headers: { 'x-request-id': 'trace-abc-123456' } });
      expect(search.status).toBe(200);
      expect(search.headers.get('x-request-id')).toBe('trace-abc-123456');
      const created = await s.fhir('Patient', { token, method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Secretname' }] } });
      expect(created.status).toBe(201);
      ids.push(created.headers.get('x-request-id') as string);
      // An id that is not a plain token is replaced, not echoed.
      const odd = await fetch(`${s.baseUrl}/healthz`, { headers: { 'x-request-id': 'Secretname <script>' } });
      ids.push(odd.headers.get('x-request-id') as string);
      const unknown = await fetch(`${s.baseUrl}/no/such/Secretname?name=Secretname`);
      expect(unknown.status).toBe(404);
      ids.push(unknown.headers.get('x-request-id') as string);
    });
    const requests = lines.filter((l) => l.msg === 'request');
    const search = requests.filter((l) => l.requestId === 'trace-abc-123456');
    expect(search).toHaveLength(1);
    expect(search[0]).toMatchObject({ level: 'info', method: 'GET', route: 'search-type', status: 200, tenant: 'test' });
    expect(typeof search[0].client).toBe('string');
    expect(typeof search[0].ms).toBe('number');
    expect(typeof search[0].bytes).toBe('number');
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(requests.filter((l) => l.requestId === ids[0])).toMatchObject([{ method: 'POST', route: 'create', status: 201, tenant: 'test' }]);
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(requests.filter((l) => l.requestId === ids[1])).toMatchObject([{ route: '/healthz', status: 200 }]);
    expect(requests.filter((l) => l.requestId === ids[2])).toMatchObject([{ route: 'unmatched', status: 404 }]);
    expect(JSON.stringify(lines)).not.toMatch(/Secretname|1970-01-01/);
  });
});
