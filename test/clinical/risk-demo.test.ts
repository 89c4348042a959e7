import type { Patient, Practitioner, Task } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { loadConfig } from '../../server/src/config.ts';
import { DEMO_CLIENT, DEMO_TENANT, seedDemo } from '../../server/src/seed/demo.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { MIN, ON_CALL, RISK_TASK, crisisMessages, flags, phq9, riskTasks, search, submit } from './risk-support.ts';

/**
 * The demo clinic from a fresh database has an on-call rota (Dr. Rivera on call, Dr. Shah backup,
 * Dr. Okoye supervisor and clinic lead): a positive PHQ-9 for a demo patient becomes a Task owned
 * by Dr. Rivera, a Flag and the patient's crisis resources, and climbs the ladder unacknowledged.
 */
let s: TestServer;
let dir: string;
let token: string;
beforeAll(async () => {
  s = await startTestServer({ RISK_POLL_MS: '0' });
  dir = mkdtempSync(join(tmpdir(), 'risk-demo-'));
  await seedDemo(s.db, { ...loadConfig({ BASE_URL: s.baseUrl }), dataDir: join(dir, 'data') });
  const jwk = JSON.parse(readFileSync(join(dir, 'demo-backend.private.jwk'), 'utf8'));
  const res = await requestToken({ baseUrl: s.baseUrl, clientId: DEMO_CLIENT, key: { jwk }, scope: 'system/*.cruds' });
  token = res.body.access_token as string;
}, 300_000);
afterAll(async () => {
  await s?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const practitioner = async (family: string) => (await search<Practitioner>(s, DEMO_TENANT, `Practitioner?family=${family}`, token))[0].id as string;

test('the rota is on file and the seeded history left no risk Task open', async () => {
  const onCall = await search(s, DEMO_TENANT, `PractitionerRole?role=${ON_CALL}|on-call`, token);
  expect(onCall.map((r) => (r as { practitioner?: { reference?: string } }).practitioner?.reference)).toEqual([`Practitioner/${await practitioner('Rivera')}`]);
  const tasks = await search<Task>(s, DEMO_TENANT, `Task?code=${RISK_TASK}&_count=100`, token);
  // Severe PHQ-9 totals in the histories were followed up and closed by the treating clinician.
  expect(tasks.length).toBeGreaterThan(0);
  expect(tasks.every((t) => t.status === 'completed' && t.output?.length)).toBe(true);
  expect(await s.server.loops.risk.runOnce()).toBe(0);
});

test('a positive PHQ-9 for a demo patient: Task for the on-call clinician, Flag, crisis resources; unacknowledged, it escalates', async () => {
  const [nguyen] = await search<Patient>(s, DEMO_TENANT, 'Patient?family=Nguyen', token);
  const response = await submit(s, DEMO_TENANT, phq9(nguyen.id as string, 2), token);
  const open = (await riskTasks(s, DEMO_TENANT, nguyen.id as string, token)).filter((t) => t.status === 'requested');
  expect(open).toHaveLength(1);
  expect(open[0].owner?.reference).toBe(`Practitioner/${await practitioner('Rivera')}`);
  expect((await flags(s, DEMO_TENANT, nguyen.id as string, token)).filter((f) => f.status === 'active')).toHaveLength(1);
  expect(await crisisMessages(s, DEMO_TENANT, response, token)).toHaveLength(1);

  s.clock.advance(61 * MIN);
  expect(await s.server.loops.risk.runOnce()).toBe(1);
  const [escalated] = (await riskTasks(s, DEMO_TENANT, nguyen.id as string, token)).filter((t) => t.status === 'requested');
  expect(escalated.owner?.reference).toBe(`Practitioner/${await practitioner('Shah')}`);
});
