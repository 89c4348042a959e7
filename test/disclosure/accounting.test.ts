import type { AuditEvent, Bundle, CapabilityStatement, OperationOutcome } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import { DISCLOSURES_OPERATION } from '../../server/src/fhir/interactions/disclosures-operation.ts';
import { Browser, type People, passwordOf, pkcePair, seedPeople, totp } from '../support/login.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * Issue 13 item 5, accounting of disclosures, over real HTTP with real sign-ins and real tokens:
 * an external backend client (registered with --organization and --purposes) reads and searches a
 * patient's data; the patient (signed in at the login pages) and a privacy officer (created with
 * the user CLI, signed in with password and TOTP) call Patient/[id]/$disclosures and see exactly
 * those disclosures, with purpose, recipient and resources. Internal clinicians' reads are not
 * listed; break-glass reads are (42 CFR 2.51(c)), with purpose ETREAT.
 */
const PAYER = 'Organization/payer-77';
const SUBTYPE = 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype';
let s: TestServer;
let people: People;
let sys: string;
let payerClient: string;
let keyFile: string;
let obsA: string;
let obsB: string;
let stranger: string;
let strangerObs: string;
let patientToken: string;
let officerToken: string;
let clinician: Browser;
let officer: Browser;

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), openDb: async () => db });
  return { code, out, err };
}

/** Signs in at the login pages (password, then TOTP for staff) in a browser of its own. */
async function signedIn(username: string, totpSecret?: string): Promise<Browser> {
  const b = new Browser(s.baseUrl);
  const login = await b.get(`/auth/login?tenant=${people.tenant}`);
  const next = await b.submit(login.html, { username, password: passwordOf(username) });
  if (totpSecret) {
    const factor = await b.get(next.location as string);
    const done = await b.submit(factor.html, { code: totp(totpSecret) });
    expect(done.status).toBe(303);
  }
  return b;
}

/** /authorize → (consent) → code → /auth/token in a signed-in browser: what a SMART app does. */
async function tokenIn(b: Browser, scope: string): Promise<string> {
  const { verifier, challenge } = pkcePair();
  let r = await b.get(people.authorizeUrl({ scope, code_challenge: challenge }));
  for (let hop = 0; hop < 10 && r.status === 303 && r.location?.startsWith('/auth/'); hop++) r = await b.get(r.location);
  if (r.status === 200 && r.html.includes('data-page="consent"')) r = await b.submit(r.html, { decision: 'approve' });
  const code = new URL(r.location ?? '', s.baseUrl).searchParams.get('code');
  if (!code) throw new Error(`no code: ${r.status} ${r.location}`);
  const res = await fetch(`${s.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: people.clientId, redirect_uri: people.redirectUri, code, code_verifier: verifier }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function payerToken(): Promise<string> {
  const r = await requestToken({ baseUrl: s.baseUrl, clientId: payerClient, key: { jwk: JSON.parse(readFileSync(keyFile, 'utf8')) }, scope: 'system/*.rs purpose/HPAYMT' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token as string;
}

/** A page of the accounting, or the OperationOutcome of a refusal. */
type Answer = Omit<Bundle<AuditEvent>, 'resourceType'> & { resourceType: string; issue?: OperationOutcome['issue'] };

async function disclosures(patient: string, token: string, query = ''): Promise<{ status: number; body: Answer }> {
  const res = await s.fhir(`Patient/${patient}/$disclosures${query}`, { token });
  return { status: res.status, body: (await res.json()) as Answer };
}

/** The read audit trail is written in batches (~100 ms): wait until `n` disclosures are listed. */
async function listed(patient: string, token: string, n: number): Promise<AuditEvent[]> {
  for (let i = 0; ; i++) {
    const { status, body } = await disclosures(patient, token);
    expect(status).toBe(200);
    const events = (body.entry ?? []).map((e) => e.resource as AuditEvent);
    if (events.length >= n || i > 40) return events;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const disclosed = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '4').map((x) => x.what?.reference);
const today = () => new Date().toISOString().slice(0, 10);
const dayOffset = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  s = await startTestServer();
  people = await seedPeople(s, 'disclosures');
  sys = await s.token('system/*.cruds', people.tenant);
  const create = async (json: Record<string, unknown>) => {
    const res = await s.fhir(String(json.resourceType), { method: 'POST', token: sys, json });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const obs = (patient: string, text: string) => ({ resourceType: 'Observation', status: 'final', code: { text }, subject: { reference: `Patient/${patient}` } });
  obsA = await create(obs(people.patientA, 'mood A'));
  obsB = await create(obs(people.patientB, 'mood B'));
  stranger = await create({ resourceType: 'Patient', name: [{ family: 'Stranger' }] });
  strangerObs = await create(obs(stranger, 'stranger finding'));

  // The external recipient: a payer's backend client, registered with its organization and purposes.
  const dir = mkdtempSync(join(tmpdir(), 'disclosures-'));
  keyFile = join(dir, 'client.jwk');
  const jwksFile = join(dir, 'client.jwks');
  const kg = await cli('client', 'keygen', '--out', keyFile);
  expect(kg.code).toBe(0);
  writeFileSync(jwksFile, kg.out.join('\n'));
  const reg = await cli('client', 'register', '--tenant', people.tenant, '--name', 'payer', '--jwks-file', jwksFile, '--scope', 'system/*.rs', '--organization', PAYER, '--purposes', 'HPAYMT');
  expect(reg.code, reg.err.join('\n')).toBe(0);
  payerClient = reg.out[0];

  // A supervisor (break-glass tells the clinic's supervisors; the clinic must have one).
  const supervisor = await create({ resourceType: 'Practitioner', name: [{ family: 'Svensson', given: ['Siri'] }] });
  const sup = await cli('user', 'create', '--tenant', people.tenant, '--username', 'siri.sup', '--password', passwordOf('siri.sup'), '--role', 'supervisor', '--fhir-user', `Practitioner/${supervisor}`, '--totp-secret', people.totpSecret);
  expect(sup.code, sup.err.join('\n')).toBe(0);

  // A privacy officer, created with the user CLI.
  const officerPractitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Privacy', given: ['Pia'] }] });
  const made = await cli('user', 'create', '--tenant', people.tenant, '--username', 'pia.privacy', '--password', passwordOf('pia.privacy'), '--role', 'privacy-officer', '--fhir-user', `Practitioner/${officerPractitioner}`, '--totp-secret', people.totpSecret);
  expect(made.code, made.err.join('\n')).toBe(0);

  // What leaves the clinic: the payer reads patient A, searches A's observations, and searches
  // every observation (A's and B's on one page).
  const payer = await payerToken();
  expect((await s.fhir(`Patient/${people.patientA}`, { token: payer })).status).toBe(200);
  expect((await s.fhir(`Observation?subject=Patient/${people.patientA}`, { token: payer })).status).toBe(200);
  await new Promise((r) => setTimeout(r, 5));
  expect((await s.fhir('Observation?_count=100', { token: payer })).status).toBe(200);

  // Treatment within the clinic: the treating clinician reads A's record (not a disclosure).
  clinician = await signedIn(people.users.clinician, people.totpSecret);
  const clin = await tokenIn(clinician, 'openid fhirUser user/*.rs');
  expect((await s.fhir(`Patient/${people.patientA}`, { token: clin })).status).toBe(200);
  expect((await s.fhir(`Observation?subject=Patient/${people.patientA}`, { token: clin })).status).toBe(200);

  patientToken = await tokenIn(await signedIn(people.users.patient), 'openid fhirUser launch/patient patient/*.rs');
  officer = await signedIn('pia.privacy', people.totpSecret);
  officerToken = await tokenIn(officer, 'openid fhirUser user/Patient.rs user/AuditEvent.rs');
}, 120_000);

afterAll(async () => {
  await s?.close();
});

describe('Patient/[id]/$disclosures', () => {
  test('the patient sees exactly the payer\'s three disclosures, newest first, with purpose, recipient and resources', async () => {
    const events = await listed(people.patientA, patientToken, 3);
    expect(events).toHaveLength(3);
    for (const e of events) {
      expect(e.purposeOfEvent?.[0]?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' });
      expect(e.agent?.find((a) => a.who?.reference === PAYER)?.type?.coding?.[0]?.code).toBe('IRCP');
      expect(e.agent?.some((a) => a.who?.identifier?.value === payerClient)).toBe(true);
      expect(e.outcome).toBe('0');
      expect(e.subtype?.some((c) => c.system === SUBTYPE && c.code === 'disclosure')).toBe(true);
      // No query (it may name others) and no network address of the recipient.
      expect(e.entity?.some((x) => x.query !== undefined)).toBe(false);
      expect(e.agent?.some((a) => a.network)).toBe(false);
      expect(e.entity?.some((x) => x.what?.reference === `Patient/${people.patientA}` && x.role?.code === '1')).toBe(true);
    }
    // Newest first: the search of every observation, then the search of A's, then the read.
    expect(events.map((e) => e.subtype?.[0]?.code)).toEqual(['search-type', 'search-type', 'read']);
    const recorded = events.map((e) => Date.parse(e.recorded as string));
    expect([...recorded].sort((a, b) => b - a)).toEqual(recorded);
    expect(disclosed(events[0])).toEqual([`Observation/${obsA}/_history/1`]); // never B's observation
    expect(disclosed(events[1])).toEqual([`Observation/${obsA}/_history/1`]);
    expect(disclosed(events[2])).toEqual([`Patient/${people.patientA}/_history/1`]);
  });

  test('a privacy officer sees the same for A, and for B only B\'s resource from the shared search page', async () => {
    const forA = await listed(people.patientA, officerToken, 3);
    expect(forA.map((e) => e.id)).toEqual((await listed(people.patientA, patientToken, 3)).map((e) => e.id));
    const forB = await listed(people.patientB, officerToken, 1);
    expect(forB).toHaveLength(1);
    expect(disclosed(forB[0])).toEqual([`Observation/${obsB}/_history/1`]);
    expect(forB[0].entity?.some((x) => x.what?.reference === `Patient/${people.patientA}`)).toBe(false);
  });

  test('the privacy officer reads the audit trail but no clinical record, and writes nothing', async () => {
    expect((await s.fhir(`Observation/${obsA}`, { token: officerToken })).status).toBe(403);
    expect((await s.fhir('Observation', { token: officerToken })).status).toBe(403);
    const write = await s.fhir('Patient', { token: officerToken, method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'New' }] } });
    expect(write.status).toBe(403);
    // Without AuditEvent in the token's scopes, no accounting either.
    const narrow = await tokenIn(officer, 'openid fhirUser user/Patient.rs');
    expect((await disclosures(people.patientA, narrow)).status).toBe(403);
    const found = await s.fhir(`AuditEvent?subtype=${SUBTYPE}|disclosure&patient=Patient/${people.patientA}`, { token: officerToken });
    expect(found.status).toBe(200);
    expect((((await found.json()) as Bundle).entry ?? []).length).toBe(3);
  });

  test('internal clinicians\' reads are not disclosures', async () => {
    const events = await listed(people.patientA, officerToken, 3);
    expect(events.every((e) => e.agent?.some((a) => a.who?.reference === PAYER))).toBe(true);
    const clinicianReads = await s.fhir(`AuditEvent?agent=Practitioner/${people.practitioner}&patient=Patient/${people.patientA}`, { token: sys });
    expect((((await clinicianReads.json()) as Bundle).entry ?? []).length).toBeGreaterThan(0); // they were audited, just not listed
  });

  test('another patient asking for A: 404, as for a patient that does not exist; a clinician who sees A: 403', async () => {
    const forB = await disclosures(people.patientB, patientToken);
    expect(forB.status).toBe(404);
    expect((await disclosures('no-such-patient', patientToken)).status).toBe(404);
    const clin = await tokenIn(clinician, 'openid fhirUser user/*.rs');
    const refused = await disclosures(people.patientA, clin);
    expect(refused.status).toBe(403);
    expect(refused.body.issue?.[0]?.details?.text).toMatch(/patient and to privacy officers/);
  });

  test('period filtering: a period before or after today is empty; today holds all three', async () => {
    for (const query of [`?start=${dayOffset(1)}&end=${dayOffset(2)}`, `?end=${dayOffset(-1)}`, `?start=${dayOffset(-3)}&end=${dayOffset(-1)}`]) {
      const r = await disclosures(people.patientA, patientToken, query);
      expect(r.status, query).toBe(200);
      expect(r.body.total, query).toBe(0);
      expect(r.body.entry ?? [], query).toHaveLength(0);
    }
    const day = await disclosures(people.patientA, patientToken, `?start=${today()}&end=${today()}`);
    expect(day.status).toBe(200);
    expect(day.body.total).toBe(3);
    // The default period is the six years before now (45 CFR 164.528): pinned in the links.
    const all = await disclosures(people.patientA, patientToken);
    const self = new URL(all.body.link?.find((l) => l.relation === 'self')?.url as string);
    const years = (Date.parse(self.searchParams.get('end') as string) - Date.parse(self.searchParams.get('start') as string)) / (365.25 * 86_400_000);
    expect(Math.round(years)).toBe(6);
  });

  test('paged: _count=1 gives one disclosure a page, newest first, following next links', async () => {
    const seen: string[] = [];
    let url: string | undefined = `${s.fhirBase}/Patient/${people.patientA}/$disclosures?_count=1`;
    while (url) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${patientToken}`, accept: 'application/fhir+json' } });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Bundle<AuditEvent>;
      expect(page.type).toBe('searchset');
      expect(page.total).toBe(3);
      expect(page.entry ?? []).toHaveLength(1);
      seen.push(page.entry?.[0]?.resource?.id as string);
      url = page.link?.find((l) => l.relation === 'next')?.url;
      expect(url === undefined || url.startsWith(`${s.fhirBase}/Patient/${people.patientA}/$disclosures?`)).toBe(true);
    }
    expect(seen).toEqual((await listed(people.patientA, patientToken, 3)).map((e) => e.id));
  });

  test('POST with a Parameters body', async () => {
    const res = await s.fhir(`Patient/${people.patientA}/$disclosures`, {
      token: patientToken,
      method: 'POST',
      json: { resourceType: 'Parameters', parameter: [{ name: 'start', valueDate: today() }, { name: 'end', valueDate: today() }] },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Bundle).total).toBe(3);
  });

  test('bad dates: 400 naming the parameter', async () => {
    for (const [query, name] of [
      ['?start=2026-13-01', 'start'],
      ['?start=2026-02-30', 'start'],
      ['?end=yesterday', 'end'],
      [`?start=${today()}&end=${dayOffset(-2)}`, 'start'],
      ['?since=2020-01-01', 'since'],
    ] as const) {
      const r = await disclosures(people.patientA, patientToken, query);
      expect(r.status, query).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue?.[0]?.expression, query).toEqual([name]);
    }
  });

  test('break-glass reads are listed with purpose ETREAT and the clinician as recipient (42 CFR 2.51)', async () => {
    const plain = await tokenIn(clinician, 'openid fhirUser user/*.rs');
    expect((await s.fhir(`Observation/${strangerObs}`, { token: plain })).status).toBe(404);
    const page = await clinician.get('/auth/break-glass');
    const started = await clinician.submit(page.html, { reason: 'Unresponsive in the waiting room, history unknown' });
    expect(started.status).toBe(200);
    expect((await s.fhir(`Observation/${strangerObs}`, { token: plain })).status).toBe(200);
    // The stranger's record left once before, on the payer's search of every observation; the
    // break-glass read is the newest.
    const events = await listed(stranger, officerToken, 2);
    expect(events).toHaveLength(2);
    const [event, payerSearch] = events;
    expect(payerSearch.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('HPAYMT');
    expect(event.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('ETREAT');
    expect(event.agent?.[0]?.who?.reference).toBe(`Practitioner/${people.practitioner}`);
    expect(disclosed(event)).toEqual([`Observation/${strangerObs}/_history/1`]);
  });
});

describe('documentation', () => {
  test('the CapabilityStatement names the operation; its OperationDefinition is valid R4', async () => {
    const cs = (await (await fetch(`${s.fhirBase}/metadata`)).json()) as CapabilityStatement;
    const patient = cs.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.operation?.find((o) => o.name === 'disclosures')?.definition).toBe(DISCLOSURES_OPERATION.url);
    const res = await s.fhir('OperationDefinition/$validate', { token: sys, method: 'POST', json: DISCLOSURES_OPERATION });
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.issue?.filter((i) => i.severity === 'error' || i.severity === 'fatal') ?? []).toEqual([]);
  });
});
