import type { Bundle, PlanDefinition, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshProcessDatabase, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';
import { ON_CALL, RISK_TASK, phq9 } from './risk-support.ts';

/**
 * Escalation timers are rows in the database: a risk Task raised by a server process that is then
 * killed with SIGKILL (no shutdown code runs) escalates on the next process once its deadline has
 * passed. Real processes (node server/src/main.ts) on real time, with a tenant deadline of 2 s.
 * PGlite: a data directory one process at a time opens; PostgreSQL when DATABASE_URL is set.
 */
const TENANT = 'restart';
let shared: SharedDatabase;
let tenancy: Tenancy;
let port: number;
let base: string;
let server: ServerProcess | undefined;
let token: string;

const start = async () => {
  server = await startServerProcess({ shared, port, env: { RISK_POLL_MS: '200' } });
  token = await systemToken(base, tenancy);
};

async function fhir<T>(path: string, init: { method?: string; json?: unknown; bearer?: string } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.bearer ?? token}`, accept: 'application/fhir+json', ...(init.json ? { 'content-type': 'application/fhir+json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function create(resource: Resource): Promise<string> {
  const { status, body } = await fhir<{ id: string }>(resource.resourceType, { method: 'POST', json: resource });
  expect(status).toBe(201);
  return body.id;
}

beforeAll(async () => {
  shared = await freshProcessDatabase('risk');
  tenancy = await setUpTenant(shared, TENANT);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await start();
}, 180_000);

afterAll(async () => {
  await server?.kill();
  await shared?.drop();
});

test('a Task raised before kill -9 escalates on the next process after its deadline', async () => {
  const rivera = await create({ resourceType: 'Practitioner', name: [{ family: 'Rivera' }] });
  const shah = await create({ resourceType: 'Practitioner', name: [{ family: 'Shah' }] });
  for (const [who, code] of [[rivera, 'on-call'], [shah, 'on-call-backup']]) {
    await create({ resourceType: 'PractitionerRole', active: true, practitioner: { reference: `Practitioner/${who}` }, code: [{ coding: [{ system: ON_CALL, code }] }] });
  }
  const admin = await tenancy.personToken(base, { scope: 'user/*.cruds', fhirUser: 'Practitioner/admin', roles: ['tenant-admin'] });
  const rules = (await fhir<PlanDefinition>('PlanDefinition/risk-rules', { bearer: admin })).body;
  const action = rules.action?.map((a) => (a.id === 'phq9-item9' ? { ...a, timingDuration: { value: 2, unit: 's', system: 'http://unitsofmeasure.org', code: 's' } } : a));
  expect((await fhir('PlanDefinition/risk-rules', { method: 'PUT', bearer: admin, json: { ...rules, version: '1.0.1', action } })).status).toBe(200);

  const patient = await create({ resourceType: 'Patient', name: [{ family: 'Restart' }] });
  await create(phq9(patient, 1));
  await server?.kill();
  // The deadline passes while no server runs.
  await new Promise((r) => setTimeout(r, 2500));
  await start();

  const deadline = Date.now() + 30_000;
  let history: Task[] = [];
  while (Date.now() < deadline) {
    const tasks = (await fhir<Bundle<Task>>(`Task?subject=Patient/${patient}&code=${RISK_TASK}`)).body.entry ?? [];
    const id = tasks[0]?.resource?.id;
    history = id ? ((await fhir<Bundle<Task>>(`Task/${id}/_history`)).body.entry ?? []).map((e) => e.resource as Task) : [];
    if (history.length >= 2) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const first = history.find((t) => t.meta?.versionId === '1');
  const second = history.find((t) => t.meta?.versionId === '2');
  expect(first?.owner?.reference).toBe(`Practitioner/${rivera}`);
  expect(second?.owner?.reference).toBe(`Practitioner/${shah}`);
  expect(second?.businessStatus?.coding?.[0]?.code).toBe('on-call-backup');
}, 120_000);
