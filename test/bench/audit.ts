/**
 * npm run bench:audit [-- --events=40000] [--flush=200] [--prefill=200000]
 *
 * What storing the audit trail costs the database: read AuditEvents as the REST audit builds them
 * (a clinician's read naming one patient), inserted through `insertAuditEvents` in flushes of
 * `flush` events (audit-trail.ts flushes ≤ 200 per tenant), into a fresh PostgreSQL database
 * (BENCH_DATABASE_URL's server, default the local one; dropped at the end) already holding
 * `prefill` events, so the indexes are not empty. Prints wall time and the database backend's CPU
 * per event (cpu.ts), median of the timed flushes, and JSON to .bench/.
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { restAuditEvent } from '../../server/src/audit/audit-event.ts';
import { insertAuditEvents } from '../../server/src/audit/audit-store.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { percentile } from './client.ts';
import { cpuMeter } from './cpu.ts';
import { BENCH_SECRET_KEYS } from './secret-keys.ts';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const EVENTS = Number(args.events ?? 40_000);
const FLUSH = Number(args.flush ?? 200);
const PREFILL = Number(args.prefill ?? 200_000);
const ROOT = join(import.meta.dirname, '../..');
const admin =
  process.env.BENCH_DATABASE_URL ??
  (existsSync('/var/run/postgresql/.s.PGSQL.5432') ? 'postgres://postgres@localhost/postgres?host=/var/run/postgresql' : 'postgres://postgres@127.0.0.1:5432/postgres');
const name = `bench_audit_${Date.now()}`;
const adminQuery = async (sql: string) => {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(sql);
  await c.end();
};

const clinician = { tenant: 'bench', clientId: 'app', scope: 'user/*.rs', userId: 'u1', fhirUser: 'Practitioner/p1', roles: ['clinician' as const], purposeOfUse: 'TREAT' };
const readEvent = (i: number): AuditEvent =>
  restAuditEvent({ tenant: 'bench', context: clinician, ip: '10.0.0.1', interaction: 'read', status: 200, what: [`Observation/${i}/_history/1`], patients: [`p${i % 5000}`] });

await adminQuery(`CREATE DATABASE ${name}`);
const url = new URL(admin);
url.pathname = `/${name}`;
const db = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory', dbPoolSize: 1, secretKeys: BENCH_SECRET_KEYS });
try {
  await createTenant(db, { id: 'bench', name: 'Audit bench' });
  for (let i = 0; i < PREFILL; i += 1000) await insertAuditEvents(db, 'bench', Array.from({ length: 1000 }, (_, k) => readEvent(i + k)));
  await db.query('VACUUM ANALYZE');
  const meter = await cpuMeter(process.pid, url.toString());
  const wall: number[] = [];
  await meter.start();
  for (let i = 0; i < EVENTS; i += FLUSH) {
    const batch = Array.from({ length: FLUSH }, (_, k) => readEvent(PREFILL + i + k));
    const t0 = performance.now();
    await db.transaction((tx) => insertAuditEvents(tx, 'bench', batch));
    wall.push((performance.now() - t0) / FLUSH);
  }
  const cpu = await meter.stop();
  wall.sort((a, b) => a - b);
  await meter.close();
  const result = {
    events: EVENTS,
    flush: FLUSH,
    prefill: PREFILL,
    wallMsPerEventMedian: Math.round(percentile(wall, 50) * 1000) / 1000,
    wallMsPerEventP95: Math.round(percentile(wall, 95) * 1000) / 1000,
    databaseCpuMsPerEvent: Math.round((cpu.database / EVENTS) * 1000) / 1000,
  };
  console.log(`| audit insert | events | flush | wall ms/event median | p95 | database CPU ms/event |\n|---|---:|---:|---:|---:|---:|\n| read AuditEvents | ${EVENTS} | ${FLUSH} | ${result.wallMsPerEventMedian} | ${result.wallMsPerEventP95} | ${result.databaseCpuMsPerEvent} |`);
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', `audit-${Date.now()}.json`), JSON.stringify(result, null, 2));
} finally {
  await db.close();
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
