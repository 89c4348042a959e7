/**
 * npm run bench [-- --scale=10] [--seconds=20] [--concurrency=16] [--bundles=N] [--db=pglite]
 *
 * Starts the real server as its own process on a fresh database (PostgreSQL at BENCH_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/postgres, or PGlite with --db=pglite), loads the
 * Synthea sample through transaction bundles, then runs reads, If-Match updates and a fixed search
 * mix at N concurrent clients. Prints a table and JSON (also written to .bench/). With --scale=K it
 * then loads K-1 more copies of the sample (fresh UUIDs) and runs the search mix again.
 * Finally it restarts the server on the loaded database and times start → first answer.
 * With --phases=ingest it stops after the ingest phase (prints that phase and exits); with a list
 * of read, update, search, access (e.g. --phases=read,update) it loads, then runs only those.
 * --server-node-options="…" sets NODE_OPTIONS of the server processes only (a profiler's flags);
 * each phase's start is printed to stderr, to line a profile up with it; --perf=DIR profiles
 * each phase with Linux perf (see PERF_DIR).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { dueTables, tableCounts } from '../../server/src/db/statistics.ts';
import { issueAccessToken } from '../../server/src/auth/access-token.ts';
import { type SigningKeys, loadSigningKeys } from '../../server/src/auth/keys.ts';
import { type BenchClient, type Credentials, benchClient, fixedTokenClient, makeCredentials, percentile } from './client.ts';
import { type CpuMeter, cpuMeter } from './cpu.ts';
import { BENCH_SECRET_KEYS } from './secret-keys.ts';
import { type Samples, collectSamples, pick, searchMix } from './workload.ts';
import { COMPILE_CACHE, HEAP_FLAGS } from '../../server/src/heap-flags.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.length ? v.join('=') : 'true'];
  })
);
const ROOT = join(import.meta.dirname, '../..');
const DATA = process.env.SYNTHEA ?? join(ROOT, '../shared/data/synthea-r4-bundles.ndjson.gz');
const SCALE = Number(args.scale ?? 1);
const SECONDS = Number(args.seconds ?? 20);
const CONCURRENCY = Number(args.concurrency ?? 16);
const MAX_BUNDLES = args.bundles ? Number(args.bundles) : Infinity;
const USE_PGLITE = args.db === 'pglite';
const PORT = Number(args.port ?? 18080);
const INGEST_ONLY = args.phases === 'ingest';
/** The load phases to run after the ingest (all by default): read, update, search, access. */
const PHASES = new Set<string>(args.phases ? args.phases.split(',') : ['read', 'update', 'search', 'access']);
/**
 * With --perf=DIR, `perf record -a -g` (all processes: the server's, PostgreSQL's, the load
 * generator's) samples 15 s of each phase, from 3 s in, into DIR/<phase>.data. Needs Linux perf;
 * add --server-node-options=--perf-basic-prof for the server's JavaScript frames.
 */
const PERF_DIR = args.perf;
function profilePhase(name: string, serverPid: number | undefined): void {
  if (!PERF_DIR) return;
  mkdirSync(PERF_DIR, { recursive: true });
  // Which processes were whose, for `perf report --pid`: the load generator (this process), the
  // server's primary and its workers.
  const workers = serverPid ? readFileSync(`/proc/${serverPid}/task/${serverPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
  writeFileSync(join(PERF_DIR, 'pids.json'), JSON.stringify({ loadGenerator: process.pid, server: serverPid, workers }) + '\n');
  const file = join(PERF_DIR, `${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}.data`);
  setTimeout(() => spawn('perf', ['record', '-F', '299', '-g', '-a', '-q', '-o', file, '--', 'sleep', '15'], { stdio: 'ignore' }).on('error', () => console.error('perf could not start')), 3000).unref();
}
/** NODE_OPTIONS of the server processes only, e.g. --server-node-options="--perf-basic-prof" for `perf`. */
const SERVER_NODE_OPTIONS = args['server-node-options'];
const BASE = `http://127.0.0.1:${PORT}`;

interface Phase {
  name: string;
  requests: number;
  seconds: number;
  perSec: number;
  resourcesPerSec?: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  serverRssMb: number;
  /** CPU per request (ms, user + system): server processes and PostgreSQL backends (PostgreSQL only). */
  cpuMsPerRequest?: { server: number; database: number };
  /** CPU per resource stored, ms (ingest on PostgreSQL): the server's processes and the database's backends. */
  cpuMsPerResource?: { server: number; database: number };
}

// --- server process -----------------------------------------------------------------------

/**
 * The run's own database. `drop` removes it at the end (the whole sample makes gigabytes on a disk
 * that has been seen with less than 300 MB free); `--keep-db` keeps it, for a look afterwards.
 */
async function freshDatabase(): Promise<{ url?: string; dataDir?: string; drop: () => Promise<void> }> {
  if (USE_PGLITE) {
    const dataDir = join(ROOT, '.bench', `pglite-${Date.now()}`);
    mkdirSync(dataDir, { recursive: true });
    return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  // Default: the local server over its Unix socket, as an app co-located with its database would
  // connect (loopback TCP costs the kernel more per query than the query costs PostgreSQL).
  const admin =
    process.env.BENCH_DATABASE_URL ??
    (existsSync('/var/run/postgresql/.s.PGSQL.5432') ? 'postgres://postgres@localhost/postgres?host=/var/run/postgresql' : 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `bench_${Date.now()}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const drop = async () => {
    const a = new pg.Client({ connectionString: admin });
    await a.connect();
    // FORCE: the stopped server's connections may not all be gone yet.
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.end();
  };
  return { url: u.toString(), drop };
}

async function dropDatabase(): Promise<void> {
  // The meters' connections to it go first.
  for (const m of meters.values()) await m.close();
  meters.clear();
  if (args['keep-db']) console.error(`kept the database: ${db.url ?? db.dataDir}`);
  else await db.drop();
}

function startServer(db: { url?: string; dataDir?: string }): { proc: ChildProcess; ready: Promise<number> } {
  const started = performance.now();
  const proc = spawn(process.execPath, [...HEAP_FLAGS, join(ROOT, 'server/src/main.ts')], {
    env: {
      ...process.env,
      NODE_COMPILE_CACHE: join(ROOT, COMPILE_CACHE),
      PORT: String(PORT),
      BASE_URL: BASE,
      SEED_DEMO: 'false',
      LOG_LEVEL: 'error',
      STATISTICS_INTERVAL_MS: '2000',
      ...(SERVER_NODE_OPTIONS ? { NODE_OPTIONS: SERVER_NODE_OPTIONS } : {}),
      ...(db.url ? { DATABASE_URL: db.url } : { DATABASE_URL: '', DATA_DIR: db.dataDir }),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const ready = (async () => {
    for (;;) {
      try {
        const r = await fetch(`${BASE}/fhir/R4/metadata`);
        if (r.ok) return performance.now() - started;
      } catch {
        // not listening yet
      }
      if (proc.exitCode !== null) throw new Error('server exited during start');
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return { proc, ready };
}

/** Resident memory of the server: the process and its worker processes, in MB. */
function rssMb(proc: ChildProcess): number {
  const rssKb = (pid: number): number => {
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const pid = proc.pid ?? 0;
  return Math.round([pid, ...children(pid)].reduce((sum, p) => sum + rssKb(p), 0) / 1024);
}

async function stopServer(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

// --- data ---------------------------------------------------------------------------------

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Copy k of the sample: every UUID (ids, references, identifiers) made unique to the copy. */
function copyLine(line: string, k: number): string {
  if (k === 0) return line;
  const prefix = k.toString(16).padStart(2, '0');
  return line.replace(UUID, (u) => prefix + u.slice(2));
}

async function ingest(client: BenchClient, proc: ChildProcess, copies: number[], samples: Samples): Promise<Phase> {
  const latencies: number[] = [];
  let resources = 0;
  let errors = 0;
  let bundles = 0;
  // Throughput swings with the machine's other load; the CPU a resource costs does not.
  const meter = db.url && proc.pid ? await cpuMeter(proc.pid, db.url) : undefined;
  await meter?.start();
  profilePhase('ingest', proc.pid);
  const started = performance.now();
  const queue: string[] = [];
  let done = false;
  const reader = (async () => {
    for (const k of copies) {
      const rl = createInterface({ input: createReadStream(DATA).pipe(createGunzip()), crlfDelay: Infinity });
      let n = 0;
      for await (const line of rl) {
        if (n++ >= MAX_BUNDLES) break;
        queue.push(copyLine(line, k));
        while (queue.length > CONCURRENCY * 4) await new Promise((r) => setTimeout(r, 2));
      }
    }
    done = true;
  })();
  const worker = async () => {
    for (;;) {
      const line = queue.shift();
      if (line === undefined) {
        if (done) return;
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      const bundle = JSON.parse(line) as { entry: { resource: Record<string, any> }[] };
      if (samples.patientIds.length < 2000) collectSamples(bundle, samples);
      const t = performance.now();
      // A connection the server closed as the request went out (keep-alive under heavy load) is
      // an error of this bundle, not the end of the run (which would leave the server running).
      const res = await client.request('POST', '', line, { prefer: 'return=minimal' }).catch((err: Error) => err);
      latencies.push(performance.now() - t);
      bundles++;
      if (res instanceof Error) {
        errors++;
        console.error('bundle failed', res.message);
        continue;
      }
      if (res.status !== 200) {
        errors++;
        if (errors < 3) console.error('bundle failed', res.status, (await res.text()).slice(0, 300));
        continue;
      }
      const body = (await res.json()) as { entry: { response: { location?: string } }[] };
      resources += bundle.entry.length;
      for (const e of body.entry) {
        const loc = e.response.location ?? '';
        if (loc.startsWith('Patient/') && samples.patientIds.length < 5000) samples.patientIds.push(loc.split('/')[1]);
        // Every client of the If-Match phase needs Observations of its own: the first ones are all
        // kept, so that a small load (--bundles=1) has enough; then one in twenty.
        const few = samples.observationIds.length < CONCURRENCY * 4;
        if (loc.startsWith('Observation/') && samples.observationIds.length < 20000 && (few || Math.random() < 0.05)) {
          samples.observationIds.push(loc.split('/')[1]);
        }
      }
    }
  };
  await Promise.all([reader, ...Array.from({ length: CONCURRENCY }, worker)]);
  const seconds = (performance.now() - started) / 1000;
  const cpu = await meter?.stop();
  await meter?.close();
  const phase = summarize(`ingest (transactions, ${bundles} bundles)`, latencies, seconds, errors, rssMb(proc), resources / seconds);
  if (cpu && resources > 0) phase.cpuMsPerResource = { server: Math.round((cpu.server / resources) * 1000) / 1000, database: Math.round((cpu.database / resources) * 1000) / 1000 };
  return phase;
}

// --- load phases --------------------------------------------------------------------------

async function runFor(
  name: string,
  proc: ChildProcess,
  fn: (worker: number, i: number) => Promise<Response>,
  perQuery?: Map<string, number[]>,
  label?: (worker: number, i: number) => string
): Promise<Phase> {
  const latencies: number[] = [];
  let errors = 0;
  const meter = await meterFor(proc);
  await meter?.start();
  // When each phase ran, to line up with a profile or a trace of the database taken meanwhile.
  console.error(`phase "${name}" from ${new Date().toISOString()} for ${SECONDS} s`);
  profilePhase(name, proc.pid);
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const res = await fn(w, i);
        await res.arrayBuffer();
        const ms = performance.now() - t;
        latencies.push(ms);
        if (perQuery && label) {
          const k = label(w, i);
          perQuery.set(k, [...(perQuery.get(k) ?? []), ms]);
        }
        if (!res.ok) {
          errors++;
          if (errors < 3) console.error(name, 'failed', res.status);
        }
      }
    })
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = await meter?.stop();
  const phase = summarize(name, latencies, seconds, errors, rssMb(proc));
  if (cpu && latencies.length) phase.cpuMsPerRequest = { server: round2(cpu.server / latencies.length), database: round2(cpu.database / latencies.length) };
  return phase;
}

// One meter per server process (the database is the bench's own; PGlite runs inside the server).
const meters = new Map<ChildProcess, CpuMeter>();
async function meterFor(proc: ChildProcess): Promise<CpuMeter | undefined> {
  if (!db.url || proc.pid === undefined) return undefined;
  let m = meters.get(proc);
  if (!m) {
    m = await cpuMeter(proc.pid, db.url);
    meters.set(proc, m);
  }
  return m;
}
const round2 = (n: number) => Math.round(n * 100) / 100;

function summarize(name: string, lat: number[], seconds: number, errors: number, rss: number, resourcesPerSec?: number): Phase {
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    name,
    requests: lat.length,
    seconds: round(seconds),
    perSec: round(lat.length / seconds),
    ...(resourcesPerSec !== undefined ? { resourcesPerSec: round(resourcesPerSec) } : {}),
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    errors,
    serverRssMb: rss,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
async function searchPhase(client: BenchClient, proc: ChildProcess, s: Samples, label: string): Promise<{ phase: Phase; perQuery: Record<string, { p50: number; p95: number; n: number }> }> {
  const mix = searchMix(s);
  const perQuery = new Map<string, number[]>();
  const phase = await runFor(
    `search mix${label}`,
    proc,
    (w, i) => client.request('GET', mix[(w + i) % mix.length].url(w * 7919 + i)),
    perQuery,
    (w, i) => mix[(w + i) % mix.length].name
  );
  const out: Record<string, { p50: number; p95: number; n: number }> = {};
  for (const [k, v] of perQuery) {
    const sorted = v.sort((a, b) => a - b);
    out[k] = { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), n: v.length };
  }
  return { phase, perQuery: out };
}

// --- main ---------------------------------------------------------------------------------

const db = await freshDatabase();
// Tenant and backend client are registered before the server starts: PGlite is single-process.
// The server's signing keys are created here too, so the access phases can mint person tokens
// (token issuance is not what they measure; the login flow has its own tests).
const { credentials, keys } = await (async (): Promise<{ credentials: Credentials; keys: SigningKeys }> => {
  const setup = await openDatabase({ databaseUrl: db.url, dataDir: db.dataDir ?? 'memory', dbPoolSize: 1, secretKeys: BENCH_SECRET_KEYS });
  await createTenant(setup, { id: 'bench', name: 'Benchmark clinic' });
  const c = await makeCredentials(async (jwks) => (await registerBackendClient(setup, { tenant: 'bench', name: 'bench', jwks, scope: 'system/*.cruds' })).clientId);
  const k = await loadSigningKeys(setup);
  await setup.close();
  return { credentials: c, keys: k };
})();
let server = startServer(db);
await server.ready;
const client = await benchClient(BASE, credentials);
const samples: Samples = { patientIds: [], observationIds: [], identifiers: [], names: [], obsCodes: [], dates: [] };
const phases: Phase[] = [];

phases.push(await ingest(client, server.proc, [0], samples));
console.error(`ingested: ${phases[0].resourcesPerSec} resources/s${phases[0].cpuMsPerResource ? `, CPU ms per resource: server ${phases[0].cpuMsPerResource.server}, database ${phases[0].cpuMsPerResource.database}` : ''}`);
if (INGEST_ONLY) {
  await stopServer(server.proc);
  console.log(JSON.stringify({ when: new Date().toISOString(), database: USE_PGLITE ? 'pglite' : 'postgresql', concurrency: CONCURRENCY, phases }, null, 2));
  await dropDatabase();
  process.exit(0);
}
// The server refreshes planner statistics after bulk writes (db/statistics.ts): ANALYZE as
// tables grow, VACUUM (ANALYZE) once writes pause. Wait for that, as a deployment would have
// between a bulk load and its first users (on PGlite, which cannot be watched from here, 10 s).
async function settle(since: Date): Promise<void> {
  if (!db.url) {
    await new Promise((r) => setTimeout(r, 10_000));
    return;
  }
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const until = Date.now() + 300_000;
  let nothingDueSince: number | undefined;
  while (Date.now() < until) {
    // The keeper has vacuumed since `since` (resource always changes by more than a tenth in a
    // load) and left no table due (it covers each that changed by more than a tenth). A load
    // below the keeper's floor (--bundles=1) is never vacuumed: nothing due for 20 s (ten of the
    // keeper's intervals here) is settled too.
    const { rows } = await c.query("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'resource'");
    const nothingDue = dueTables('VACUUM (ANALYZE)', await tableCounts(c)).length === 0;
    nothingDueSince = nothingDue ? (nothingDueSince ?? Date.now()) : undefined;
    if (nothingDue && ((rows[0]?.last_vacuum && new Date(rows[0].last_vacuum) > since) || Date.now() - (nothingDueSince ?? Date.now()) >= 20_000)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await c.end();
}
await settle(new Date());
if (PHASES.has('read')) phases.push(await runFor('read', server.proc, (w, i) => client.request('GET', i % 2 ? `Patient/${pick(samples.patientIds, w * 31 + i)}` : `Observation/${pick(samples.observationIds, w * 131 + i)}`)));
if (PHASES.has('update')) phases.push(
  await runFor('If-Match update', server.proc, async (w, i) => {
    // Each client updates its own resources, so If-Match conflicts come only from real races.
    const perWorker = Math.max(1, Math.floor(samples.observationIds.length / CONCURRENCY));
    const id = samples.observationIds[w + CONCURRENCY * (i % perWorker)];
    const cur = await client.request('GET', `Observation/${id}`);
    const body = (await cur.json()) as { meta: { versionId: string }; status: string };
    body.status = i % 2 ? 'amended' : 'final';
    return client.request('PUT', `Observation/${id}`, JSON.stringify(body), { 'if-match': `W/"${body.meta.versionId}"` });
  })
);
const search1 = PHASES.has('search') || PHASES.has('access') ? await searchPhase(client, server.proc, samples, '') : undefined;
if (search1) phases.push(search1.phase);

// Access cost (issue 3 §7): the same search mix with a clinician's user/ token and with patient/
// tokens. The clinician is on the care team of every sample patient, so the access predicate is
// evaluated in full and the results match the system token's; each patient/ client is one
// patient, whose own id the patient-specific queries use.
const clinicianPerQuery: Record<string, { p50: number; p95: number; n: number }> = {};
const access = PHASES.has('access') ? await accessPhases() : [];
phases.push(...access);

async function accessPhases(): Promise<Phase[]> {
  const practitioner = { resourceType: 'Practitioner', id: 'bench-clinician', name: [{ family: 'Bench', given: ['Clinician'] }] };
  const teams = samples.patientIds.map((id) => ({
    resource: {
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: `Patient/${id}` },
      participant: [{ member: { reference: 'Practitioner/bench-clinician' } }],
    },
    request: { method: 'POST', url: 'CareTeam' },
  }));
  const setup = await client.request(
    'POST',
    '',
    JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: practitioner, request: { method: 'PUT', url: 'Practitioner/bench-clinician' } }, ...teams] }),
    { prefer: 'return=minimal' }
  );
  if (!setup.ok) throw new Error(`care teams: ${setup.status} ${(await setup.text()).slice(0, 300)}`);
  const mint = (claims: { scope: string; fhirUser: string; roles: string[]; patient?: string }) =>
    issueAccessToken(keys, BASE, `${BASE}/fhir/R4`, { tenant: 'bench', clientId: 'bench-app', sub: claims.fhirUser, ...claims }, 3600);
  const clinician = fixedTokenClient(BASE, await mint({ scope: 'user/*.rs', fhirUser: 'Practitioner/bench-clinician', roles: ['clinician'] }));
  const out: Phase[] = [];
  const asClinician = await searchPhase(clinician, server.proc, samples, ' (clinician user/ token)');
  Object.assign(clinicianPerQuery, asClinician.perQuery);
  out.push(asClinician.phase);
  // One patient per client; the mix's patient-specific queries use that patient.
  const perWorker = await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      const id = samples.patientIds[w % samples.patientIds.length];
      const c = fixedTokenClient(BASE, await mint({ scope: 'patient/*.rs', fhirUser: `Patient/${id}`, roles: ['patient'], patient: id }));
      return { c, s: { ...samples, patientIds: [id] } };
    })
  );
  const patientMix = perWorker.map(({ s }) => searchMix(s));
  out.push(
    await runFor('search mix (patient/ tokens)', server.proc, (w, i) => perWorker[w].c.request('GET', patientMix[w][(w + i) % patientMix[w].length].url(w * 7919 + i)))
  );
  const systemAgain = perWorker.map(({ s }) => searchMix(s));
  out.push(
    await runFor('search mix (system token, patient-specific as above)', server.proc, (w, i) => client.request('GET', systemAgain[w][(w + i) % systemAgain[w].length].url(w * 7919 + i)))
  );
  out.push((await searchPhase(client, server.proc, samples, ' (system token, again)')).phase);
  return out;
}
let search10: typeof search1 | undefined;
if (SCALE > 1 && search1) {
  phases.push(await ingest(client, server.proc, Array.from({ length: SCALE - 1 }, (_, k) => k + 1), { ...samples, patientIds: [...samples.patientIds] }));
  await settle(new Date());
  search10 = await searchPhase(client, server.proc, samples, ` at ${SCALE}x data`);
  phases.push(search10.phase);
}

// Restart on the now-populated database: start → first answer.
await stopServer(server.proc);
server = startServer(db);
const restartMs = await server.ready;
const firstAuthed = performance.now();
const client2 = await benchClient(BASE, credentials);
const firstRead = await client2.request('GET', `Patient/${samples.patientIds[0]}`);
const firstAnswerMs = restartMs + (performance.now() - firstAuthed);
await stopServer(server.proc);

const result = {
  when: new Date().toISOString(),
  database: USE_PGLITE ? 'pglite' : 'postgresql',
  concurrency: CONCURRENCY,
  secondsPerPhase: SECONDS,
  scale: SCALE,
  phases,
  ...(search1 ? { searchMixPerQuery: search1.perQuery, searchMixPerQueryClinician: clinicianPerQuery } : {}),
  ...(search1 && access.length
    ? {
        accessCost: {
          clinicianVsSystem: round(access[0].perSec / ((search1.phase.perSec + access[3].perSec) / 2)),
          patientVsSystemSameQueries: round(access[1].perSec / access[2].perSec),
        },
      }
    : {}),
  ...(search1 && search10 ? { searchMixPerQueryScaled: search10.perQuery, scaledSlowdownP95: round(search10.phase.p95 / search1.phase.p95), scaledThroughputRatio: round(search1.phase.perSec / search10.phase.perSec) } : {}),
  restart: { startToMetadataMs: round(restartMs), startToFirstReadMs: round(firstAnswerMs), firstReadStatus: firstRead.status },
};

console.log('\n| phase | requests | req/s | resources/s | p50 ms | p95 ms | p99 ms | errors | server RSS MB | CPU ms/req server + db |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const p of phases) {
  const cpu = p.cpuMsPerRequest ? `${p.cpuMsPerRequest.server} + ${p.cpuMsPerRequest.database}` : '';
  console.log(`| ${p.name} | ${p.requests} | ${p.perSec} | ${p.resourcesPerSec ?? ''} | ${p.p50} | ${p.p95} | ${p.p99} | ${p.errors} | ${p.serverRssMb} | ${cpu} |`);
}
console.log('\n| search | p50 ms | p95 ms | n | clinician p50 ms | clinician p95 ms | clinician n |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [k, v] of Object.entries(search1?.perQuery ?? {})) {
  const c = clinicianPerQuery[k];
  console.log(`| ${k} | ${v.p50} | ${v.p95} | ${v.n} | ${c?.p50 ?? ''} | ${c?.p95 ?? ''} | ${c?.n ?? ''} |`);
}
console.log(`\nrestart: start → /metadata ${result.restart.startToMetadataMs} ms, start → first authenticated read ${result.restart.startToFirstReadMs} ms`);
console.log('\n' + JSON.stringify(result, null, 2));
mkdirSync(join(ROOT, '.bench'), { recursive: true });
writeFileSync(join(ROOT, '.bench', `result-${Date.now()}.json`), JSON.stringify(result, null, 2));
await dropDatabase();
process.exit(0);
