import type { Bundle, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { loadConfig } from '../../server/src/config.ts';
import { DEMO_CLIENT, DEMO_TENANT, seedDemo } from '../../server/src/seed/demo.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * The demo clinic on a fresh database: seedDemo (with the clinical practice of
 * seed/demo-clinical.ts) on the test server's database, then read back through real HTTP with the
 * demo's own backend client, as README "Calling the API" does.
 */
let s: TestServer;
let token: string;
let dir: string;
beforeAll(async () => {
  s = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'demo-seed-'));
  const config = { ...loadConfig({ BASE_URL: s.baseUrl }), dataDir: join(dir, 'data') };
  // How long seeding takes is measured outside the tests (see the closing note), not asserted here.
  await seedDemo(s.db, config);
  const jwk = JSON.parse(readFileSync(join(dir, 'demo-backend.private.jwk'), 'utf8'));
  const res = await requestToken({ baseUrl: s.baseUrl, clientId: DEMO_CLIENT, key: { jwk }, scope: 'system/*.rs' });
  token = res.body.access_token as string;
}, 300_000);
afterAll(async () => {
  await s?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function total(query: string): Promise<number> {
  const res = await s.fhir(`${query}${query.includes('?') ? '&' : '?'}_total=accurate&_count=0`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as Bundle).total ?? -1;
}

test('the living practice: people, teams, payers, programs, goals', async () => {
  expect(await total('Patient')).toBe(10);
  // Dr. Ana Rivera, Dr. Sam Okoye (supervisor) and the demo logins' staff are reused, not duplicated.
  expect(await total('Practitioner?family=Rivera')).toBe(1);
  expect(await total('Practitioner?family=Okoye')).toBe(1);
  expect(await total('Practitioner?family=Shah')).toBe(1);
  expect(await total('PractitionerRole')).toBe(3);
  expect(await total('CareTeam?status=active')).toBe(10);
  expect(await total('Organization?type=pay')).toBe(2);
  expect(await total('Coverage')).toBe(7);
  expect(await total('CarePlan?category=http://bh-fhir.org/fhir/CodeSystem/program|depression')).toBe(6);
  expect(await total('CarePlan?category=http://bh-fhir.org/fhir/CodeSystem/program|anxiety')).toBe(4);
  expect(await total('Goal')).toBe(10);
});

test('scores were recorded through the scoring hook: every response has its total', async () => {
  const responses = await total('QuestionnaireResponse?status=completed');
  // Sessions per patient (PATIENTS in seed/demo-clinical.ts): 8+8+8+13+7+7+7+7+13+2 = 80, two forms each.
  expect(responses).toBe(160);
  expect(await total('Observation?code=http://loinc.org|44261-6&status=final')).toBe(80);
  expect(await total('Observation?code=http://loinc.org|70274-6&status=final')).toBe(80);
  expect(await total('Encounter?status=finished')).toBe(80);
});

test('notes: four signed, one countersigned; a psychotherapy note kept apart', async () => {
  expect(await total('Composition?status=final')).toBe(4);
  const res = await s.fhir('Composition?status=final&_count=10', { token });
  const notes = ((await res.json()) as Bundle).entry?.map((e) => e.resource as { attester?: { mode: string }[] }) ?? [];
  expect(notes.filter((n) => n.attester?.some((a) => a.mode === 'professional'))).toHaveLength(1);
  expect(await total('Provenance')).toBe(5);
  // The split psychotherapy note carries PSYTHPN; a system/*.rs token without a scope naming
  // DocumentReference does not see it (access/labels), so ask with one that does.
  const named = await requestToken({
    baseUrl: s.baseUrl,
    clientId: DEMO_CLIENT,
    key: { jwk: JSON.parse(readFileSync(join(dir, 'demo-backend.private.jwk'), 'utf8')) },
    scope: 'system/DocumentReference.rs',
  });
  const docs = await s.fhir('DocumentReference?_security=http://terminology.hl7.org/CodeSystem/v3-ActCode|PSYTHPN&_total=accurate', { token: named.body.access_token as string });
  expect(docs.status, await docs.clone().text()).toBe(200);
  expect(((await docs.json()) as Bundle).total).toBe(1);
});

const param = (p: { parameter?: ParametersParameter[] } | ParametersParameter, name: string) =>
  ('parameter' in p ? p.parameter : (p as ParametersParameter).part)?.find((x) => x.name === name);

test('outcomes over the demo: improving, stalled and worsening courses', async () => {
  const patient = async (family: string) => (((await (await s.fhir(`Patient?family=${family}`, { token })).json()) as Bundle).entry?.[0]?.resource?.id as string);
  const summary = async (family: string): Promise<Parameters> => (await s.fhir(`Patient/${await patient(family)}/$mbc-summary`, { token })).json();
  const phq = (p: Parameters) => p.parameter?.find((x) => x.name === 'instrument' && param(x, 'code')?.valueCoding?.code === '44261-6') as ParametersParameter;
  const nguyen = await summary('Nguyen');
  // 19 → 4: response, remission, reliable improvement; recovered (19/12 at caseness → 4/4).
  expect([param(phq(nguyen), 'baseline')?.valueDecimal, param(phq(nguyen), 'latest')?.valueDecimal]).toEqual([19, 4]);
  expect(param(phq(nguyen), 'remission')?.valueBoolean).toBe(true);
  expect(param(param(nguyen, 'recovery') as ParametersParameter, 'status')?.valueCode).toBe('recovered');
  const okafor = await summary('Okafor');
  expect(param(phq(okafor), 'reliableImprovement')?.valueBoolean).toBe(false);
  const silva = await summary('Silva');
  expect(param(phq(silva), 'reliableDeterioration')?.valueBoolean).toBe(true);

  const cohort = (await (await s.fhir('$mbc-cohort?program=depression', { token })).json()) as Parameters;
  expect(param(cohort, 'patients')?.valueInteger).toBe(6);
  const tenantWide = (await (await s.fhir('$mbc-cohort', { token })).json()) as Parameters;
  expect(param(tenantWide, 'patients')?.valueInteger).toBe(10);
  // Every scheduled occurrence so far has its scores (sessions follow the schedule).
  const sched = param(tenantWide, 'scheduledCompleted') as ParametersParameter;
  expect(param(sched, 'rate')?.valueDecimal).toBe(1);
  expect(DEMO_TENANT).toBe('demo');
});
