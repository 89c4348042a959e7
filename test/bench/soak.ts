/**
 * npm run bench:soak [-- --minutes=30] [--window-minutes=5] [--rate=N] [--probe-seconds=20]
 *                      [--concurrency=16] [--max-rss-growth-pct=10] [--bundles=N] [--server-node-options="…"]
 *
 * The soak (issue 12): the mixed workload of `npm run bench` — reads, the 11-kind search mix,
 * If-Match updates (GET + PUT), creates — plus PHQ-9 submissions (one in four a positive screen:
 * risk Task, Flag, crisis resources, escalations), at a steady rate for a long time, against two
 * server processes (`node server/src/main.ts`, one process each, separate ports: two nodes) on a
 * fresh PostgreSQL database (BENCH_DATABASE_URL's server, default the local one). Requests go to
 * the two nodes in turn.
 *
 * The rate is `--rate` operations/s, or half of what a quick closed-loop probe of the same mix
 * (`--concurrency` clients for `--probe-seconds`, run either way: it is also the warm-up) reaches. Operations are started on schedule
 * (open loop: a slow answer does not slow the load down); one that cannot start because 256 are
 * already in flight counts as an error.
 *
 * Reports, per window of `--window-minutes`: operations, errors, p50/p95/p99 latency (an If-Match
 * update counts its GET and PUT together) and each node's resident memory; and the RSS of each
 * node at the start (after loading and the probe), middle and end, with the growth from start to
 * end and from middle to end. Exits 1 when any operation failed (a non-2xx answer or a network
 * error) or a node's RSS grew from the middle to the end by more than `--max-rss-growth-pct`
 * percent (default 10). Data: the Synthea sample at SYNTHEA (as bench.ts), else the 8 bundles in
 * test/fixtures; `--bundles` loads only the first N.
 *
 * Why the memory criterion compares the middle with the end, not the start: a process's RSS
 * under a new steady load first climbs to a plateau (V8 grows its young and old generations to
 * what the allocation rate asks for and keeps them, glibc keeps what it has been given) and then
 * stays there. The first 30-minute soak showed exactly that: node 2 went from 207 MB at the start
 * to 288 MB at the end (+39 %) but stood at 286–288 MB over the last 15 minutes, so the
 * start-to-end check failed a process that does not leak. A leak grows steadily, so it grows in
 * the second half as in the first: 10 % over the second half allows about the rate the former
 * 20 % over the whole run did (in MB per minute, relative to the middle's RSS rather than the
 * start's), so a steady leak is caught as before, and a warm-up that ends before the middle
 * passes. (A plateau still climbing after the middle fails: then the soak was too short to tell.)
 * Start-to-end growth is still reported.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { HEAP_FLAGS } from '../../server/src/heap-flags.ts';
import { type BenchClient, benchClient, percentile } from './client.ts';
import { type ServerProcess, freshPostgres, setUpTenant, startServerProcess } from './server-process.ts';
import { heartRate } from './subscription-fixture.ts';
import { type Samples, collectSamples, emptySamples, phq9Response, pick, searchMix } from './workload.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.length ? v.join('=') : 'true'];
  })
);
const ROOT = join(import.meta.dirname, '../..');
const SHARED_SAMPLE = join(ROOT, '../shared/data/synthea-r4-bundles.ndjson.gz');
const DATA = process.env.SYNTHEA ?? join(ROOT, 'test/fixtures/synthea-r4-8-bundles.ndjson.gz');
const MINUTES = Number(args.minutes ?? 30);
const WINDOW_MS = Number(args['window-minutes'] ?? 5) * 60_000;
const PROBE_SECONDS = Number(args['probe-seconds'] ?? 20);
const CONCURRENCY = Number(args.concurrency ?? 16);
const MAX_RSS_GROWTH_PCT = Number(args['max-rss-growth-pct'] ?? 10);
const MAX_BUNDLES = args.bundles ? Number(args.bundles) : Infinity;
/** Node flags of the two server processes only, e.g. --server-node-options=--trace-gc to tell heap growth from a leak. */
const SERVER_NODE_OPTIONS = args['server-node-options'];
const MAX_IN_FLIGHT = 256;
const TENANT = 'soak';
const ON_CALL = 'http://bh-fhir.org/fhir/CodeSystem/on-call-role';
const ADMIN =
  process.env.BENCH_DATABASE_URL ??
  (existsSync('/var/run/postgresql/.s.PGSQL.5432') ? 'postgres://postgres@localhost/postgres?host=/var/run/postgresql' : 'postgres://postgres@127.0.0.1:5432/postgres');
for (const [name, v] of Object.entries({ minutes: MINUTES, 'window-minutes': WINDOW_MS, 'probe-seconds': PROBE_SECONDS, concurrency: CONCURRENCY })) {
  if (!(v > 0)) throw new Error(`--${name} must be a positive number`);
}

const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Resident memory of one server process, MB (it runs WORKERS=1: no children). */
function rssMb(node: ServerProcess): number {
  try {
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

async function ok<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

// --- setup ------------------------------------------------------------------------------------

async function load(client: BenchClient, samples: Samples): Promise<number> {
  const rl = createInterface({ input: createReadStream(DATA).pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  for await (const line of rl) {
    if (n++ >= MAX_BUNDLES) break;
    const bundle = JSON.parse(line) as { entry: { resource: Record<string, any> }[] };
    if (samples.patientIds.length < 2000) collectSamples(bundle, samples);
    const p = (async () => {
      const body = await ok<Bundle>(await client.request('POST', '', line), 'bundle');
      for (const e of body.entry ?? []) {
        const loc = e.response?.location ?? '';
        if (loc.startsWith('Patient/')) samples.patientIds.push(loc.split('/')[1]);
        if (loc.startsWith('Observation/') && samples.observationIds.length < 20_000) samples.observationIds.push(loc.split('/')[1]);
      }
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return Math.min(n, MAX_BUNDLES);
}

// --- the mixed workload -----------------------------------------------------------------------

type Kind = 'read' | 'search' | 'update' | 'create' | 'phq9';
/** Out of 20 operations: 8 reads, 6 searches, 2 If-Match updates, 3 creates, 1 PHQ-9. */
const MIX: Kind[] = ['read', 'search', 'read', 'create', 'read', 'search', 'update', 'read', 'search', 'create', 'read', 'search', 'phq9', 'read', 'search', 'update', 'read', 'search', 'create', 'read'];

function workload(clients: BenchClient[], samples: Samples) {
  const mix = searchMix(samples);
  // Observations being updated right now: each update takes a free one, so If-Match conflicts
  // (which would be the workload's doing, not the server's) cannot happen.
  const busy = new Set<string>();
  let nextUpdate = 0;
  return async function op(i: number): Promise<{ kind: Kind; ok: boolean; status: number }> {
    const kind = MIX[i % MIX.length];
    const client = clients[i % clients.length];
    const done = async (res: Response) => {
      await res.arrayBuffer();
      return { kind, ok: res.ok, status: res.status };
    };
    switch (kind) {
      case 'read':
        return done(await client.request('GET', i % 2 ? `Patient/${pick(samples.patientIds, i * 31)}` : `Observation/${pick(samples.observationIds, i * 131)}`));
      case 'search':
        return done(await client.request('GET', mix[i % mix.length].url(i)));
      case 'create':
        return done(await client.request('POST', 'Observation', JSON.stringify(heartRate(pick(samples.patientIds, i), 60 + (i % 40))), { prefer: 'return=minimal' }));
      case 'phq9':
        return done(await client.request('POST', 'QuestionnaireResponse', JSON.stringify(phq9Response(pick(samples.patientIds, i * 7), i % 4 === 0)), { prefer: 'return=minimal' }));
      case 'update': {
        let id = pick(samples.observationIds, nextUpdate++);
        for (let k = 0; busy.has(id) && k < samples.observationIds.length; k++) id = pick(samples.observationIds, nextUpdate++);
        busy.add(id);
        try {
          const cur = await client.request('GET', `Observation/${id}`);
          if (!cur.ok) return done(cur);
          const body = (await cur.json()) as { meta: { versionId: string }; status: string };
          body.status = body.status === 'amended' ? 'final' : 'amended';
          return done(await clients[(i + 1) % clients.length].request('PUT', `Observation/${id}`, JSON.stringify(body), { 'if-match': `W/"${body.meta.versionId}"`, prefer: 'return=minimal' }));
        } finally {
          busy.delete(id);
        }
      }
    }
  };
}

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
}

async function probe(op: (i: number) => Promise<{ ok: boolean }>): Promise<number> {
  let n = 0;
  let errors = 0;
  const started = performance.now();
  const until = started + PROBE_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; performance.now() < until; i += CONCURRENCY) {
        const r = await op(i).catch(() => ({ ok: false }));
        n++;
        if (!r.ok) errors++;
      }
    })
  );
  if (errors) throw new Error(`capacity probe: ${errors} of ${n} operations failed`);
  return n / ((performance.now() - started) / 1000);
}

function windowRow(index: number, samples: Sample[], rssMb: number[]) {
  const lat = samples.map((s) => s.ms).sort((x, y) => x - y);
  return {
    window: index + 1,
    ops: samples.length,
    errors: samples.filter((s) => !s.ok).length,
    p50: round(percentile(lat, 50)),
    p95: round(percentile(lat, 95)),
    p99: round(percentile(lat, 99)),
    rssMb,
  };
}

// --- main -------------------------------------------------------------------------------------

if (!process.env.SYNTHEA && existsSync(SHARED_SAMPLE)) log(`using the 8 bundles in test/fixtures; SYNTHEA=${SHARED_SAMPLE} loads the whole sample`);
const shared = await freshPostgres(ADMIN, 'soak');
const tenancy = await setUpTenant(shared, TENANT, 'system/*.cruds');
const nodes: ServerProcess[] = [];
let exitCode = 1;
try {
  // Two nodes: one public base URL (tokens name it), each on its own port.
  const env = { STATISTICS_INTERVAL_MS: '2000' };
  // V8 flags such as --trace-gc are refused in NODE_OPTIONS: they go on the command line.
  const execArgv = SERVER_NODE_OPTIONS ? [...HEAP_FLAGS, ...SERVER_NODE_OPTIONS.split(/\s+/).filter(Boolean)] : undefined;
  const first = await startServerProcess({ shared, env, quiet: false, execArgv });
  nodes.push(first, await startServerProcess({ shared, baseUrl: first.url, env, quiet: false, execArgv }));
  const base = first.url;
  // Both get their tokens from the public base; the second sends its requests to node 2.
  const clients = [await benchClient(base, tenancy), await benchClient(base, tenancy, nodes[1].url)];
  const samples = emptySamples();
  const bundles = await load(clients[0], samples);
  const rota: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: { resourceType: 'Practitioner', id: 'oncall', name: [{ family: 'Oncall' }] }, request: { method: 'PUT', url: 'Practitioner/oncall' } },
      { resource: { resourceType: 'PractitionerRole', id: 'oncall-role', active: true, practitioner: { reference: 'Practitioner/oncall' }, code: [{ coding: [{ system: ON_CALL, code: 'on-call' }] }] }, request: { method: 'PUT', url: 'PractitionerRole/oncall-role' } },
    ],
  };
  await ok(await clients[0].request('POST', '', JSON.stringify(rota)), 'rota');
  log(`loaded ${bundles} bundles: ${samples.patientIds.length} patients, ${samples.observationIds.length} observations sampled`);

  const op = workload(clients, samples);
  // The probe runs with --rate too: it is also the warm-up (JIT, caches, pools) before the
  // start RSS is taken, so that growth from start to end means what it should.
  const capacity = await probe(op);
  const rate = Number(args.rate ?? 0) || capacity / 2;
  log(`capacity probe: ${round(capacity)} ops/s at ${CONCURRENCY} clients; soak rate ${round(rate)} ops/s`);
  const rss = { start: nodes.map(rssMb), middle: [] as number[], end: [] as number[] };
  log(`soak: ${MINUTES} min at ${round(rate)} ops/s, windows of ${WINDOW_MS / 60_000} min; RSS at start ${rss.start.join(' / ')} MB`);

  const all: Sample[] = [];
  const windows: ReturnType<typeof windowRow>[] = [];
  const started = performance.now();
  const endAt = started + MINUTES * 60_000;
  let skipped = 0;
  let inFlight = 0;
  const running = new Set<Promise<void>>();
  let nextWindow = started + WINDOW_MS;
  let middleTaken = false;
  // A window's row is logged when it ends (operations still in flight then are left out of the
  // log line) and computed again from every operation at the end for the table.
  const closeWindow = (until: number) => {
    const from = until - WINDOW_MS;
    const row = windowRow(windows.length, all.filter((s) => s.at >= from && s.at < until), nodes.map(rssMb));
    windows.push(row);
    log(`window ${row.window}: ${row.ops} ops, ${row.errors} errors, p50 ${row.p50} p95 ${row.p95} p99 ${row.p99} ms, RSS ${row.rssMb.join(' / ')} MB`);
  };
  for (let i = 0; ; i++) {
    const due = started + (i * 1000) / rate;
    if (due >= endAt) break;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (!middleTaken && performance.now() >= started + (MINUTES * 60_000) / 2) {
      rss.middle = nodes.map(rssMb);
      middleTaken = true;
    }
    while (performance.now() >= nextWindow && nextWindow <= endAt) {
      closeWindow(nextWindow);
      nextWindow += WINDOW_MS;
    }
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped++;
      all.push({ at: performance.now(), ms: 0, ok: false });
      continue;
    }
    inFlight++;
    const t0 = performance.now();
    const p = op(i)
      .then(
        (r) => {
          all.push({ at: t0, ms: performance.now() - t0, ok: r.ok });
          if (!r.ok) log(`${r.kind} failed: ${r.status}`);
        },
        (err: Error) => {
          all.push({ at: t0, ms: performance.now() - t0, ok: false });
          log(`operation failed: ${err.message}`);
        }
      )
      .finally(() => {
        inFlight--;
        running.delete(p);
      });
    running.add(p);
  }
  await Promise.all(running);
  // The last, possibly shorter, window.
  if (nextWindow - WINDOW_MS < endAt && all.some((s) => s.at >= nextWindow - WINDOW_MS)) closeWindow(nextWindow);
  rss.end = nodes.map(rssMb);
  if (!middleTaken) rss.middle = rss.end;
  for (const [k, w] of windows.entries()) {
    const from = started + k * WINDOW_MS;
    windows[k] = windowRow(k, all.filter((s) => s.at >= from && s.at < from + WINDOW_MS), w.rssMb);
  }

  const errors = all.filter((s) => !s.ok).length;
  const pct = (from: number[]) => from.map((s, k) => round(((rss.end[k] - s) / s) * 100));
  const growth = pct(rss.start);
  const lateGrowth = pct(rss.middle);
  const result = { when: new Date().toISOString(), minutes: MINUTES, capacityOpsPerSec: round(capacity), windowMinutes: WINDOW_MS / 60_000, rate: round(rate), operations: all.length, errors, skipped, rssMb: rss, rssGrowthPct: growth, rssGrowthFromMiddlePct: lateGrowth, maxRssGrowthPct: MAX_RSS_GROWTH_PCT, windows };
  console.log('\n| window | ops | errors | p50 ms | p95 ms | p99 ms | RSS node 1 / node 2 MB |');
  console.log('|---:|---:|---:|---:|---:|---:|---|');
  for (const w of windows) console.log(`| ${w.window} | ${w.ops} | ${w.errors} | ${w.p50} | ${w.p95} | ${w.p99} | ${w.rssMb.join(' / ')} |`);
  console.log(`\nRSS MB (node 1 / node 2): start ${rss.start.join(' / ')}, middle ${rss.middle.join(' / ')}, end ${rss.end.join(' / ')}; growth start→end ${growth.join(' / ')} %, middle→end ${lateGrowth.join(' / ')} % (limit ${MAX_RSS_GROWTH_PCT} %)`);
  console.log(`${all.length} operations at ${round(rate)}/s, ${errors} errors (${skipped} could not start: ${MAX_IN_FLIGHT} in flight)`);
  console.log('\n' + JSON.stringify(result, null, 2));
  const failures = [...(errors ? [`${errors} errors`] : []), ...lateGrowth.flatMap((g, k) => (g > MAX_RSS_GROWTH_PCT ? [`node ${k + 1} RSS grew ${g} % from the middle to the end`] : []))];
  if (failures.length) console.error(`soak FAILED: ${failures.join('; ')}`);
  else exitCode = 0;
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
  await shared.drop();
}
process.exit(exitCode);
