/**
 * npm run bench:clinical [-- --patients=10000] [--assessments=10] [--seconds=20] [--concurrency=6] [--runs=7] [--phases=submit]
 *   [--server-node-options="--cpu-prof --cpu-prof-dir=/tmp/prof"] (NODE_OPTIONS of the server processes only;
 *   "--import=./test/bench/sql-trace.ts" traces their statements, see that file)
 *
 * The measurement-based-care benchmark, on its own PostgreSQL database (BENCH_DATABASE_URL's
 * server, default the local one), dropped at the end:
 *  (a) completed PHQ-9 QuestionnaireResponses POSTed by `concurrency` clients for `seconds`: the
 *      server scores each and stores its Observations in the same transaction (target p95 ≤ 30 ms);
 *  (b) $mbc-cohort over `patients` patients with `assessments` PHQ-9 scores each, bulk-loaded
 *      through the repository in large transactions (issue 12: ≤ 300 ms at 10,000 patients;
 *      median and max of `runs`). `--phases=submit` stops after (a).
 * Each phase also reports the CPU it cost per request (server processes and database backends,
 * cpu.ts): on a machine shared with other work, latency swings with the neighbours' load.
 * Prints a table and writes JSON to .bench/.
 */
import type { CarePlan, CareTeam, Coverage, Observation, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { tenantAdminPolicy } from '../../server/src/access/policy.ts';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { LOINC, PROGRAM_SYSTEM } from '../../server/src/clinical/codes.ts';
import { PHQ9 } from '../../server/src/clinical/outcomes/definitions.ts';
import { outcomesHook } from '../../server/src/clinical/outcomes/hook.ts';
import { scoreObservation } from '../../server/src/clinical/outcomes/score-observation.ts';
import { INSTRUMENTS } from '../../server/src/clinical/scoring/index.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { loadDefinitions } from '../../server/src/kernel/definitions.ts';
import { answers } from '../../server/src/seed/demo-clinical.ts';
import { Repository } from '../../server/src/store/repository.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { benchClient, makeCredentials, percentile } from './client.ts';
import { type CpuSample, cpuMeter } from './cpu.ts';
import { BENCH_SECRET_KEYS } from './secret-keys.ts';
import { HEAP_FLAGS } from '../../server/src/heap-flags.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.length ? v.join('=') : 'true'];
  })
);
const ROOT = join(import.meta.dirname, '../..');
const PATIENTS = Number(args.patients ?? 10_000);
const ASSESSMENTS = Number(args.assessments ?? 10);
const SECONDS = Number(args.seconds ?? 20);
const CONCURRENCY = Number(args.concurrency ?? 6);
const RUNS = Number(args.runs ?? 7);
const SUBMIT_ONLY = args.phases === 'submit';
const PORT = Number(args.port ?? 18090);
const BASE = `http://127.0.0.1:${PORT}`;
const SERVER_NODE_OPTIONS = args['server-node-options'];
const TENANT = 'bench';
const round = (n: number) => Math.round(n * 10) / 10;

// --- database and server (as test/bench/bench.ts) -------------------------------------------

const admin =
  process.env.BENCH_DATABASE_URL ??
  (existsSync('/var/run/postgresql/.s.PGSQL.5432') ? 'postgres://postgres@localhost/postgres?host=/var/run/postgresql' : 'postgres://postgres@127.0.0.1:5432/postgres');
const dbName = `bench_clinical_${Date.now()}`;
async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(sql);
  await c.end();
}
const dbUrl = (() => {
  const u = new URL(admin);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

function startServer(): ChildProcess {
  return spawn(process.execPath, [...HEAP_FLAGS, join(ROOT, 'server/src/main.ts')], {
    env: { ...process.env, PORT: String(PORT), BASE_URL: BASE, SEED_DEMO: 'false', LOG_LEVEL: 'error', DATABASE_URL: dbUrl, ...(SERVER_NODE_OPTIONS ? { NODE_OPTIONS: SERVER_NODE_OPTIONS } : {}) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
async function ready(proc: ChildProcess): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${BASE}/fhir/R4/metadata`)).ok) return;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error('server exited during start');
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

function stats(lat: number[]) {
  const s = [...lat].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)), max: round(s.at(-1) ?? 0) };
}

// --- main -----------------------------------------------------------------------------------

await adminQuery(`CREATE DATABASE ${dbName}`);
let server: ChildProcess | undefined;
try {
  loadDefinitions();
  const db = await openDatabase({ databaseUrl: dbUrl, dataDir: 'memory', dbPoolSize: 4, secretKeys: BENCH_SECRET_KEYS });
  await createTenant(db, { id: TENANT, name: 'Clinical benchmark' });
  const credentials = await makeCredentials(async (jwks) => (await registerBackendClient(db, { tenant: TENANT, name: 'bench', jwks, scope: 'system/*.cruds' })).clientId);
  // The bulk load skips the server's hooks except the one that keeps the cohort report's rows
  // (clinical/outcomes/hook.ts), as the server would for these writes.
  const repo = new Repository(db, { tenant: TENANT, access: tenantAdminPolicy(TENANT), fhirBase: `${BASE}/fhir/R4`, lenient: false, defaultCount: 20, maxCount: 1000, hooks: [outcomesHook] });

  server = startServer();
  await ready(server);
  const client = await benchClient(BASE, credentials);

  // (a) PHQ-9 submissions, scored by the server's write hook.
  const formPatients = await repo.withTransaction(async (tx) => {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await tx.createResource<Patient>({ resourceType: 'Patient', name: [{ family: `Form${i}` }] })).id);
    return ids;
  });
  const phq9 = INSTRUMENTS['phq-9'];
  const latencies: number[] = [];
  let errors = 0;
  const meter = server.pid ? await cpuMeter(server.pid, dbUrl) : undefined;
  const perRequest = (c: CpuSample | undefined, n: number) => (c && n ? { server: round(c.server / n), database: round(c.database / n) } : undefined);
  await meter?.start();
  const until = performance.now() + (args.keep ? 1 : SECONDS) * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const qr: QuestionnaireResponse = {
          resourceType: 'QuestionnaireResponse',
          questionnaire: `${phq9.url}|${phq9.version}`,
          status: 'completed',
          subject: { reference: `Patient/${formPatients[(w * 7 + i) % formPatients.length]}` },
          authored: new Date().toISOString(),
          item: answers(PHQ9, (w + i) % 25),
        };
        const t = performance.now();
        const res = await client.request('POST', 'QuestionnaireResponse', JSON.stringify(qr), { prefer: 'return=minimal' });
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
        if (res.status !== 201) {
          errors++;
          if (errors < 3) console.error('QuestionnaireResponse POST failed', res.status);
        }
      }
    })
  );
  const submitCpu = perRequest(await meter?.stop(), latencies.length);
  const submitted = latencies.length - errors;
  const { rows: scoredRows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM idx_token WHERE tenant = $1 AND rtype = 'Observation' AND param = 'code' AND system = $2 AND code = $3`,
    [TENANT, LOINC, PHQ9.totalCode]
  );
  const submit = { ...stats(latencies), perSec: round(latencies.length / SECONDS), errors, responses: submitted, scoredTotals: scoredRows[0].n, cpuMsPerRequest: submitCpu };
  console.error(
    `(a) PHQ-9 submit: p95 ${submit.p95} ms over ${submit.n} requests; ${submit.scoredTotals} scored totals for ${submitted} responses` +
      (submitCpu ? `; CPU ms per request: server ${submitCpu.server}, database ${submitCpu.database}` : '')
  );
  if (SUBMIT_ONLY) {
    console.log(JSON.stringify({ when: new Date().toISOString(), database: 'postgresql', submit: { target: 'p95 ≤ 30 ms', concurrency: CONCURRENCY, seconds: SECONDS, ...submit } }, null, 2));
    await meter?.close();
    await db.close();
    await stop(server);
    server = undefined;
    if (args.keep) console.error(`kept database ${dbName}`);
    else await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    process.exit(0);
  }

  // (b) bulk-load the population: per patient a CarePlan (program, PHQ-9 every 2 weeks), a care
  // team (one of 20 clinicians), a coverage (one of 2 payers), and ASSESSMENTS scores 2 weeks apart.
  const loadStarted = performance.now();
  const BATCH = 250;
  const start = Date.UTC(2025, 0, 6);
  let loaded = 0;
  const loadBatch = async (from: number) => {
    await repo.withTransaction(async (tx) => {
      for (let p = from; p < Math.min(from + BATCH, PATIENTS); p++) {
        const id = `bp${p}`;
        await tx.createResource<Patient>({ resourceType: 'Patient', id, name: [{ family: `Bench${p}` }] }, { assignedId: true });
        await tx.createResource<CarePlan>({
          resourceType: 'CarePlan',
          status: 'active',
          intent: 'plan',
          category: [{ coding: [{ system: PROGRAM_SYSTEM, code: p % 3 ? 'depression' : 'anxiety' }] }],
          subject: { reference: `Patient/${id}` },
          period: { start: '2025-01-06' },
          activity: [{ detail: { kind: 'ServiceRequest', code: { coding: [{ system: LOINC, code: PHQ9.panelCode }] }, status: 'scheduled', scheduledTiming: { repeat: { frequency: 1, period: 2, periodUnit: 'wk', boundsPeriod: { start: '2025-01-06' } } } } }],
        });
        await tx.createResource<CareTeam>({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${id}` }, participant: [{ member: { reference: `Practitioner/bench-clin-${p % 20}` } }] });
        await tx.createResource<Coverage>({ resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${id}` }, payor: [{ reference: `Organization/bench-payer-${p % 2}` }] });
        // A course that improves, stalls or worsens by patient.
        const baseline = 8 + (p % 17);
        const slope = [-1.5, -0.8, 0, 0.4][p % 4];
        for (let k = 0; k < ASSESSMENTS; k++) {
          const value = Math.max(0, Math.min(27, Math.round(baseline + slope * k)));
          const at = new Date(start + k * 14 * 86_400_000 + (p % 600) * 60_000).toISOString();
          await tx.createResource<Observation>(scoreObservation(id, PHQ9, at, value));
        }
      }
    });
    loaded = Math.min(from + BATCH, PATIENTS);
  };
  // Two loaders: the machine has two cores, one of which the database uses.
  const batches = Array.from({ length: Math.ceil(PATIENTS / BATCH) }, (_, i) => i * BATCH);
  await Promise.all(
    [0, 1].map(async () => {
      for (let b = batches.shift(); b !== undefined; b = batches.shift()) {
        await loadBatch(b);
        if (loaded % 2000 < BATCH) console.error(`loaded ${loaded}/${PATIENTS} patients (${round((performance.now() - loadStarted) / 1000)} s)`);
      }
    })
  );
  const loadSeconds = round((performance.now() - loadStarted) / 1000);
  const resources = PATIENTS * (4 + ASSESSMENTS);
  console.error(`(b) loaded ${resources} resources in ${loadSeconds} s`);
  // As the server's statistics keeper does once writes pause after a load (db/statistics.ts):
  // this load bypassed the server, so its keeper saw no writes. VACUUM also sets the visibility
  // map, without which every index-only scan of the slices fetches heap pages.
  await db.query('VACUUM (ANALYZE)');

  const variants: [string, string][] = [
    ['tenant, 2025 window', 'start=2025-01-01&end=2025-12-31'],
    ['program', `start=2025-01-01&end=2025-12-31&program=${encodeURIComponent(`${PROGRAM_SYSTEM}|depression`)}`],
    ['payer', 'start=2025-01-01&end=2025-12-31&payer=Organization/bench-payer-1'],
    ['practitioner', 'start=2025-01-01&end=2025-12-31&practitioner=Practitioner/bench-clin-3'],
    ['no window', ''],
  ];
  const cohort: Record<string, { median: number; max: number; runs: number; patients: number; cpuMsPerRequest?: { server: number; database: number } }> = {};
  for (const [name, q] of variants) {
    const times: number[] = [];
    let patients = 0;
    await meter?.start();
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      const res = await client.request('GET', `$mbc-cohort${q ? `?${q}` : ''}`);
      const body = (await res.json()) as { parameter?: { name: string; valueInteger?: number }[] };
      times.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`$mbc-cohort ${name}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      patients = body.parameter?.find((p) => p.name === 'patients')?.valueInteger ?? -1;
    }
    const cpu = perRequest(await meter?.stop(), RUNS);
    const s = [...times].sort((a, b) => a - b);
    cohort[name] = { median: round(percentile(s, 50)), max: round(s.at(-1) ?? 0), runs: RUNS, patients, cpuMsPerRequest: cpu };
  }
  await meter?.close();

  const result = {
    when: new Date().toISOString(),
    database: 'postgresql',
    submit: { target: 'p95 ≤ 30 ms', concurrency: CONCURRENCY, seconds: SECONDS, ...submit },
    load: { patients: PATIENTS, assessmentsEach: ASSESSMENTS, resources, seconds: loadSeconds, perSec: round(resources / loadSeconds) },
    cohort: { target: '≤ 300 ms at 10,000 patients', ...cohort },
  };
  const cpuCell = (c: { server: number; database: number } | undefined) => (c ? `${c.server} + ${c.database}` : '');
  console.log('\n| phase | n | p50 ms | p95 ms | p99 ms | max ms | errors | CPU ms/request (server + database) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  console.log(`| (a) PHQ-9 response → scored (c=${CONCURRENCY}) | ${submit.n} | ${submit.p50} | ${submit.p95} | ${submit.p99} | ${submit.max} | ${errors} | ${cpuCell(submitCpu)} |`);
  console.log(`\nload: ${resources} resources (${PATIENTS} patients × ${ASSESSMENTS} scores + plan, team, coverage) in ${loadSeconds} s`);
  console.log('\n| (b) $mbc-cohort | patients | median ms | max ms | runs | CPU ms/request (server + database) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, c] of Object.entries(cohort)) console.log(`| ${name} | ${c.patients} | ${c.median} | ${c.max} | ${c.runs} | ${cpuCell(c.cpuMsPerRequest)} |`);
  console.log('\n' + JSON.stringify(result, null, 2));
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', `clinical-${Date.now()}.json`), JSON.stringify(result, null, 2));
  await db.close();
} finally {
  if (server) await stop(server);
  // --keep leaves the database for EXPLAIN work (its name is printed); drop it by hand after.
  if (args.keep) console.error(`kept database ${dbName}`);
  else await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
process.exit(0);
