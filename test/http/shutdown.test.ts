import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDatabase } from '../../server/src/db/open.ts';
import { BENCH_SECRET_KEYS } from '../bench/secret-keys.ts';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshProcessDatabase, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';

// Graceful shutdown of the real server (node server/src/main.ts) under a write and read load:
// on PostgreSQL two worker processes behind the cluster primary, on PGlite the one process.
// SIGTERM mid-load: /readyz turns 503 at once (SHUTDOWN_DELAY_MS keeps the listener open a moment
// for that), requests in flight finish, the audit buffer is stored and the chain sealed, and the
// process exits 0 within the bound. Then the database is read directly: every 2xx write is stored
// and audited, every 2xx read audited. Also checked on the same run: the metrics port aggregates
// the workers (METRICS_PORT and METRICS_TOKEN alike), and every response's X-Request-Id has its access-log line, with no PHI in any line.

const TENANT = 'shutdown';
const METRICS_TOKEN = 'shutdown-test-metrics-token';
const WORKERS = process.env.DATABASE_URL ? 2 : 1;
const SHUTDOWN_TIMEOUT_MS = 15_000;
const SHUTDOWN_DELAY_MS = 3000;
/** Entries in each of the transactions in flight at SIGTERM (enough to take a while). */
const BUNDLE = 1000;
/** The bound the primary itself keeps (main.ts CLOSE_MS beyond the drain), plus start-up slack. */
const EXIT_BOUND_MS = SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + 5000 + 2000;

let shared: SharedDatabase;
let tenancy: Tenancy;
let proc: ServerProcess;
let token: string;
let metricsPort: number;
let logs = '';

beforeAll(async () => {
  shared = await freshProcessDatabase('shutdown');
  tenancy = await setUpTenant(shared, TENANT);
  metricsPort = await freePort();
  proc = await startServerProcess({
    shared,
    env: {
      WORKERS: String(WORKERS),
      LOG_LEVEL: 'info',
      METRICS_PORT: String(metricsPort),
      METRICS_TOKEN,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    },
    stderr: (t) => (logs += t),
  });
  token = await systemToken(proc.url, tenancy);
  // /healthz answers once one worker listens: wait for the others (the primary's scrape lists
  // every listening process) so the load meets them all.
  for (const deadline = Date.now() + 120_000; ; ) {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    if ((text.match(/^process_resident_memory_bytes/gm) ?? []).length === (WORKERS === 1 ? 1 : WORKERS + 1)) break;
    if (Date.now() > deadline) throw new Error('the workers did not all start within 120 s');
    await sleep(200);
  }
}, 240_000);

afterAll(async () => {
  await proc?.kill();
  await shared?.drop();
});

interface Outcome {
  status: number;
  requestId: string | null;
  body: unknown;
}

/** Every answer the server gave, with its X-Request-Id (the access log must have each). */
const answered: Outcome[] = [];

async function call(path: string, init: { method?: string; json?: unknown } = {}): Promise<Outcome> {
  const res = await fetch(`${proc.url}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.json ? { 'content-type': 'application/fhir+json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
  const text = await res.text();
  const out = { status: res.status, requestId: res.headers.get('x-request-id'), body: text ? JSON.parse(text) : undefined };
  answered.push(out);
  return out;
}

function bundle(n: number): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: n }, () => ({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: { resourceType: 'Patient', name: [{ family: 'Bundled' }] },
      request: { method: 'POST', url: 'Patient' },
    })),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POSTs a Bundle to the FHIR base on a new connection. */
/** POSTs a transaction; `sent` is called once its whole body has left. */
function post(b: Bundle, sent?: () => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(b);
    const req = http.request(
      `${proc.url}/fhir/R4`,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = { status: res.statusCode ?? 0, requestId: (res.headers['x-request-id'] as string) ?? null, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
          answered.push(out);
          resolve(out);
        });
      }
    );
    req.on('error', reject);
    if (sent) req.on('finish', sent);
    req.end(body);
  });
}

describe('SIGTERM under load', () => {
  test('in-flight requests finish, every 2xx is stored and audited, readiness drops, the process exits 0 in time', async () => {
    expect((await call('Patient?name=Secretname')).status).toBe(200);

    // The load: writers that create a Patient and read it back, until the server stops answering.
    const created: string[] = [];
    const read: string[] = [];
    const failures: Outcome[] = [];
    let running = true;
    const writer = async () => {
      while (running) {
        try {
          const c = await call('Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Loaded' }] } });
          if (c.status >= 500) failures.push(c);
          if (c.status !== 201) continue;
          const id = (c.body as { id: string }).id;
          created.push(id);
          const r = await call(`Patient/${id}`);
          if (r.status >= 500) failures.push(r);
          if (r.status === 200) read.push(id);
        } catch {
          // Connection refused or closed once the listener is gone: the load is over.
          return;
        }
      }
    };
    const writers = Array.from({ length: 6 }, writer);
    await sleep(1500);

    // Both metrics endpoints answer for the whole cluster: every create answered so far is
    // counted, whichever worker served it (the public one only for the METRICS_TOKEN bearer).
    const createdBeforeScrape = created.length;
    const createsCounted = async (url: string, headers: Record<string, string> = {}) => {
      const scrape = await fetch(url, { headers });
      expect(scrape.status).toBe(200);
      expect(scrape.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const metrics = await scrape.text();
      expect(metrics).toMatch(/^audit_buffer_depth \d+$/m);
      expect(metrics.match(/^process_resident_memory_bytes\{pid="\d+"\} \d+$/gm)).toHaveLength(WORKERS === 1 ? 1 : WORKERS + 1);
      return Number(/^http_requests_total\{interaction="create",status_class="2xx"\} (\d+)$/m.exec(metrics)?.[1]);
    };
    expect(await createsCounted(`http://127.0.0.1:${metricsPort}/metrics`)).toBeGreaterThanOrEqual(createdBeforeScrape);
    expect(await createsCounted(`${proc.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })).toBeGreaterThanOrEqual(createdBeforeScrape);
    expect((await fetch(`${proc.url}/metrics`)).status).toBe(401);

    // Large transactions, under way when SIGTERM comes: each on a connection of its own (a request
    // sent on a keep-alive connection the server is closing as idle never reached it: clients retry
    // those), and given time to arrive.
    // SIGTERM once both have been sent and the server has begun on them: not after a fixed wait,
    // which a fast server outlasts (a transaction that already answered was not in flight).
    let bodiesSent = 0;
    const transactions = [bundle(BUNDLE), bundle(BUNDLE)].map((b) => post(b, () => bodiesSent++).then((o) => ({ ...o, at: Date.now() })));
    while (bodiesSent < 2) await sleep(5);
    await sleep(50);
    const signalledAt = Date.now();
    proc.proc.kill('SIGTERM');

    // Once each process has begun to shut down, not ready (a balancer stops sending) while alive.
    while ((logs.match(/"msg":"shutting down"/g) ?? []).length < WORKERS) await sleep(10);
    const [ready, alive] = await Promise.all([fetch(`${proc.url}/readyz`), fetch(`${proc.url}/healthz`)]);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('shutting down');
    expect(alive.status).toBe(200);

    await proc.exited;
    const exitedAfter = Date.now() - signalledAt;
    running = false;
    await Promise.all(writers);
    expect(proc.proc.exitCode).toBe(0);
    expect(exitedAfter).toBeLessThan(EXIT_BOUND_MS);

    expect(failures).toEqual([]);
    const done = await Promise.all(transactions);
    const bundled: string[] = [];
    for (const t of done) {
      expect(t.status).toBe(200);
      expect(t.at).toBeGreaterThan(signalledAt); // they really were in flight
      for (const e of (t.body as Bundle).entry ?? []) {
        expect(e.response?.status).toMatch(/^201/);
        bundled.push(e.response?.location?.split('/')[1] as string);
      }
    }
    expect(bundled).toHaveLength(2 * BUNDLE);
    expect(created.length).toBeGreaterThan(createdBeforeScrape);

    // Straight from the database, now that the process is gone.
    const db = await openDatabase({ databaseUrl: shared.url, dataDir: shared.dataDir ?? 'memory', dbPoolSize: 2, secretKeys: BENCH_SECRET_KEYS });
    try {
      const patients = new Set(
        (await db.query<{ id: string }>("SELECT id FROM resource WHERE tenant = $1 AND type = 'Patient' AND NOT deleted", [TENANT])).rows.map((r) => r.id)
      );
      expect([...created, ...bundled].filter((id) => !patients.has(id))).toEqual([]);

      const events = (await db.query<{ content: string }>("SELECT content FROM audit_event WHERE tenant = $1", [TENANT])).rows.map(
        (r) => JSON.parse(r.content) as AuditEvent
      );
      const audited = new Set<string>();
      for (const e of events) {
        for (const entity of e.entity ?? []) {
          const ref = entity.what?.reference?.split('/_history/')[0];
          if (ref) audited.add(`${e.subtype?.[0]?.code} ${ref}`);
        }
      }
      expect(created.filter((id) => !audited.has(`create Patient/${id}`))).toEqual([]);
      expect(read.filter((id) => !audited.has(`read Patient/${id}`))).toEqual([]);
      expect(bundled.filter((id) => !audited.has(`transaction Patient/${id}`))).toEqual([]);
      // The chain was sealed before the processes exited.
      const unsealed = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_chain WHERE tenant = $1 AND hash IS NULL', [TENANT]);
      expect(unsealed.rows[0].n).toBe(0);
    } finally {
      await db.close();
    }

    // One access-log line per answer, found by its request id; no name from a query or body.
    const lines = logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const logged = new Set(lines.filter((l) => l.msg === 'request').map((l) => l.requestId));
    expect(answered.filter((a) => !a.requestId || !logged.has(a.requestId))).toEqual([]);
    expect(lines.find((l) => l.msg === 'request' && l.route === 'search-type')).toMatchObject({ method: 'GET', status: 200, tenant: TENANT, client: tenancy.clientId });
    expect(logs).not.toContain('Secretname');
    expect(logs).not.toContain('Loaded');
  }, 180_000);
});
