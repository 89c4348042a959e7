/**
 * npm run bench:start [-- --runs=5] [--db=postgres|pglite|all] [--load-seconds=5]
 *
 * Start time and memory of the server (issue 12: "start to first answer, existing database
 * ≤ 1.5 s", "RSS per server process ≤ 300 MB"). On an existing database — created, migrated and
 * seeded with the tenant, a backend client, the 8 Synthea bundles of test/fixtures and everything
 * the server installs at its first start — each run spawns `node server/src/main.ts` and measures:
 *  - ms from spawn to the first 200 of `GET /fhir/R4/metadata`, and of a real FHIR read
 *    (a backend-services token from its /auth/token, then `GET /fhir/R4/Patient/<id>` with it),
 *    and the CPU time each server process had used by the first (on a machine shared with other
 *    work the wall time swings with the neighbours' load; the CPU a start costs does not);
 *  - the resident memory (VmRSS, /proc/<pid>/status) of each server process (primary and
 *    workers) once started and idle, and after `--load-seconds` of a mixed load (reads, the search
 *    mix, creates, PHQ-9 QuestionnaireResponse submissions) from 8 clients.
 * Configurations: PostgreSQL with WORKERS=2 and WORKERS=1 (BENCH_DATABASE_URL's server, a fresh
 * database dropped at the end) and PGlite (one process, a temporary data directory). Prints the
 * median of `--runs` runs per configuration and writes JSON to .bench/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { type BenchClient, benchClient } from './client.ts';
import { type SharedDatabase, type Tenancy, freePort, freshPostgres, setUpTenant, startServerProcess, systemToken } from './server-process.ts';
import { heartRate } from './subscription-fixture.ts';
import { type Samples, collectSamples, emptySamples, phq9Response, pick, searchMix } from './workload.ts';
import { COMPILE_CACHE, HEAP_FLAGS } from '../../server/src/heap-flags.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.length ? v.join('=') : 'true'];
  })
);
const ROOT = join(import.meta.dirname, '../..');
const DATA = join(ROOT, 'test/fixtures/synthea-r4-8-bundles.ndjson.gz');
const RUNS = Number(args.runs ?? 5);
const DB = String(args.db ?? 'all');
const LOAD_SECONDS = Number(args['load-seconds'] ?? 5);
const TENANT = 'start';
const ADMIN =
  process.env.BENCH_DATABASE_URL ??
  (existsSync('/var/run/postgresql/.s.PGSQL.5432') ? 'postgres://postgres@localhost/postgres?host=/var/run/postgresql' : 'postgres://postgres@127.0.0.1:5432/postgres');
if (!(RUNS > 0) || !(LOAD_SECONDS > 0) || !['all', 'postgres', 'pglite'].includes(DB)) throw new Error('usage: --runs=N --load-seconds=N --db=postgres|pglite|all');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`[start ${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : 0;
};

/** VmRSS of one process, MB (0 once it has gone). */
function rssMb(pid: number): number {
  try {
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

/** CPU time (user + system, ms) one process has used so far (USER_HZ = 100 on Linux). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** The process and its cluster workers: [primary, ...workers]. */
function serverPids(pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

async function ok<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface Config {
  name: string;
  shared: SharedDatabase;
  workers: number;
}

/** The first start: the server installs what it installs once; the sample data is loaded. */
async function prepare(shared: SharedDatabase, tenancy: Tenancy): Promise<{ samples: Samples; patientId: string }> {
  const first = await startServerProcess({ shared });
  try {
    const client = await benchClient(first.url, tenancy);
    const samples = emptySamples();
    const rl = createInterface({ input: createReadStream(DATA).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of rl) {
      collectSamples(JSON.parse(line), samples);
      const body = await ok<{ entry?: { response?: { location?: string } }[] }>(await client.request('POST', '', line), 'bundle');
      for (const e of body.entry ?? []) {
        const loc = e.response?.location ?? '';
        if (loc.startsWith('Patient/')) samples.patientIds.push(loc.split('/')[1]);
        if (loc.startsWith('Observation/')) samples.observationIds.push(loc.split('/')[1]);
      }
    }
    return { samples, patientId: samples.patientIds[0] };
  } finally {
    await first.stop();
  }
}

/** Polls `url` from spawn until it answers 200; ms since `t0`. */
async function firstOk(url: string, t0: number, proc: ChildProcess, headers: Record<string, string> = {}): Promise<number> {
  const deadline = t0 + 120_000;
  for (;;) {
    const status = await fetch(url, { headers }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0
    );
    if (status === 200) return performance.now() - t0;
    if (status !== 0 && status !== 503) throw new Error(`${url}: ${status}`);
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited during start (${proc.exitCode ?? proc.signalCode})`);
    if (performance.now() > deadline) throw new Error(`${url}: no 200 within 120 s`);
    await sleep(5);
  }
}

/** A backend-services token from the starting server (retried until it answers), then a read with it. */
async function firstRead(url: string, tenancy: Tenancy, patientId: string, t0: number, proc: ChildProcess): Promise<number> {
  for (;;) {
    const token = await systemToken(url, tenancy).catch(() => undefined);
    if (token) return firstOk(`${url}/fhir/R4/Patient/${patientId}`, t0, proc, { authorization: `Bearer ${token}` });
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error('server exited during start');
    if (performance.now() > t0 + 120_000) throw new Error('no token within 120 s');
    await sleep(5);
  }
}

/** 8 clients for `LOAD_SECONDS`: out of 10 operations 4 reads, 3 searches, 2 creates, 1 PHQ-9. */
async function mixedLoad(client: BenchClient, samples: Samples): Promise<{ operations: number; errors: number }> {
  const mix = searchMix(samples);
  const kinds = ['read', 'search', 'create', 'read', 'search', 'phq9', 'read', 'search', 'create', 'read'];
  const until = performance.now() + LOAD_SECONDS * 1000;
  let n = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; performance.now() < until; i += 8) {
        const kind = kinds[i % kinds.length];
        const res = await (kind === 'read'
            ? client.request('GET', i % 2 ? `Patient/${pick(samples.patientIds, i)}` : `Observation/${pick(samples.observationIds, i * 7)}`)
            : kind === 'search'
              ? client.request('GET', mix[i % mix.length].url(i))
              : kind === 'create'
                ? client.request('POST', 'Observation', JSON.stringify(heartRate(pick(samples.patientIds, i), 60 + (i % 40))), { prefer: 'return=minimal' })
                : client.request('POST', 'QuestionnaireResponse', JSON.stringify(phq9Response(pick(samples.patientIds, i), false)), { prefer: 'return=minimal' })
        ).then(
          async (r) => (await r.arrayBuffer(), r.ok),
          () => false
        );
        n++;
        if (!res) errors++;
      }
    })
  );
  return { operations: n, errors };
}

interface Run {
  metadataMs: number;
  /** CPU each server process had used when metadata first answered 200: on a busy machine, what the start costs. */
  cpuMs: number[];
  readMs: number;
  idleRssMb: number[];
  loadedRssMb: number[];
  operations: number;
  errors: number;
}

async function run(c: Config, tenancy: Tenancy, samples: Samples, patientId: string): Promise<Run> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const result: Run = { metadataMs: 0, cpuMs: [], readMs: 0, idleRssMb: [], loadedRssMb: [], operations: 0, errors: 0 };
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...HEAP_FLAGS, join(ROOT, 'server/src/main.ts')], {
    env: {
      ...process.env,
      NODE_COMPILE_CACHE: join(ROOT, COMPILE_CACHE),
      PORT: String(port),
      BASE_URL: url,
      WORKERS: String(c.workers),
      SEED_DEMO: 'false',
      STATISTICS_INTERVAL_MS: '0',
      LOG_LEVEL: 'error',
      ...(c.shared.url ? { DATABASE_URL: c.shared.url } : { DATABASE_URL: '', DATA_DIR: c.shared.dataDir ?? '' }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    [result.metadataMs, result.readMs] = await Promise.all([
      firstOk(`${url}/fhir/R4/metadata`, t0, proc).then((ms) => {
        result.cpuMs = serverPids(proc.pid as number).map(cpuMs);
        return ms;
      }),
      firstRead(url, tenancy, patientId, t0, proc),
    ]);
    const client = await benchClient(url, tenancy);
    // Idle: every worker up (each answers /readyz through the shared port by turns) and settled.
    await sleep(3000);
    result.idleRssMb = serverPids(proc.pid as number).map(rssMb);
    Object.assign(result, await mixedLoad(client, samples));
    await sleep(1000);
    result.loadedRssMb = serverPids(proc.pid as number).map(rssMb);
    return result;
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  }
}
const summaries: Record<string, unknown>[] = [];
const configs: { name: string; make: () => Promise<SharedDatabase>; workers: number[] }[] = [];
if (DB !== 'pglite') configs.push({ name: 'postgres', make: () => freshPostgres(ADMIN, 'start'), workers: [2, 1] });
const pgliteDir = async (): Promise<SharedDatabase> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bh-start-'));
  return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
};
if (DB !== 'postgres') configs.push({ name: 'pglite', make: pgliteDir, workers: [1] });

for (const cfg of configs) {
  const shared = await cfg.make();
  try {
    const tenancy = await setUpTenant(shared, TENANT, 'system/*.cruds');
    const { samples, patientId } = await prepare(shared, tenancy);
    log(`${cfg.name}: prepared (${samples.patientIds.length} patients, ${samples.observationIds.length} observations)`);
    for (const workers of cfg.workers) {
      const runs: Run[] = [];
      for (let k = 0; k < RUNS; k++) {
        const r = await run({ name: cfg.name, shared, workers }, tenancy, samples, patientId);
        log(`${cfg.name} WORKERS=${workers} run ${k + 1}: metadata ${Math.round(r.metadataMs)} ms, read ${Math.round(r.readMs)} ms, CPU at first answer ${r.cpuMs.join(' / ')} ms, RSS idle ${r.idleRssMb.join(' / ')} MB, after ${r.operations} operations (${r.errors} errors) ${r.loadedRssMb.join(' / ')} MB`);
        runs.push(r);
      }
      const col = (f: (r: Run) => number[]) => Array.from({ length: Math.max(...runs.map((r) => f(r).length)) }, (_, i) => median(runs.map((r) => f(r)[i] ?? 0)));
      summaries.push({
        database: cfg.name,
        workers,
        runs: RUNS,
        metadataMs: Math.round(median(runs.map((r) => r.metadataMs))),
        readMs: Math.round(median(runs.map((r) => r.readMs))),
        cpuMs: col((r) => r.cpuMs),
        idleRssMb: col((r) => r.idleRssMb),
        loadedRssMb: col((r) => r.loadedRssMb),
        raw: runs,
      });
    }
  } finally {
    await shared.drop();
  }
}

console.log('\n| database | WORKERS | first 200 metadata ms | first 200 read ms | CPU ms by then (primary / workers) | RSS idle MB (primary / workers) | RSS after load MB |');
console.log('|---|---:|---:|---:|---|---|---|');
for (const s of summaries) console.log(`| ${s.database} | ${s.workers} | ${s.metadataMs} | ${s.readMs} | ${(s.cpuMs as number[]).join(' / ')} | ${(s.idleRssMb as number[]).join(' / ')} | ${(s.loadedRssMb as number[]).join(' / ')} |`);
console.log(`(medians of ${RUNS} runs)`);
const out = { when: new Date().toISOString(), runs: RUNS, loadSeconds: LOAD_SECONDS, results: summaries };
mkdirSync(join(ROOT, '.bench'), { recursive: true });
writeFileSync(join(ROOT, `.bench/start-${Date.now()}.json`), JSON.stringify(out, null, 2));
process.exit(0);
