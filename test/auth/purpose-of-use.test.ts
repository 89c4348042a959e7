import type { AuditEvent, Bundle, Communication } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createUser } from '../../server/src/auth/users/index.ts';
import { Browser, type People, passwordOf, pkcePair, seedPeople, totp } from '../support/login.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * Purpose of use and break-glass through real sign-ins (issue 10 item 4): the clinician signs in
 * at the login pages, authorizes the app on the consent page and exchanges the code at the token
 * endpoint; break-glass is the server-rendered page. No token is minted by hand.
 *  - without purpose/TREAT her token does not show the restricted (confidentiality R) record of
 *    her own patient; with it, it does; a patient asking for purpose/TREAT does not get it;
 *  - break-glass (with a reason) opens every patient of the clinic, restricted records included,
 *    to the token she already holds, tells the supervisors (Communication) and is audited
 *    (AuditEvent with the reason); when the window ends (server clock moved on) it closes again.
 */
let s: TestServer;
let people: People;
let sys: string;
let browser: Browser;
let supervisor: string;
let restrictedA: string;
let plainA: string;
let stranger: string;
let strangerObs: string;
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };

beforeAll(async () => {
  s = await startTestServer();
  people = await seedPeople(s, 'purpose');
  sys = await s.token('system/*.cruds', people.tenant);
  const create = async (json: Record<string, unknown>) => {
    const res = await s.fhir(String(json.resourceType), { method: 'POST', token: sys, json });
    if (res.status !== 201) throw new Error(`create ${String(json.resourceType)}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const obs = (patient: string, text: string, security?: object[]) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text },
    subject: { reference: `Patient/${patient}` },
    ...(security ? { meta: { security } } : {}),
  });
  // Patient A is treated by the clinician (seedPeople: an active CareTeam); the stranger is not.
  restrictedA = await create(obs(people.patientA, 'restricted finding', [RESTRICTED]));
  plainA = await create(obs(people.patientA, 'plain finding'));
  stranger = await create({ resourceType: 'Patient', name: [{ family: 'Stranger' }] });
  strangerObs = await create(obs(stranger, 'stranger finding', [RESTRICTED]));
  // A supervisor of the clinic (staff account with the supervisor role, her own Practitioner).
  supervisor = await create({ resourceType: 'Practitioner', name: [{ family: 'Svensson', given: ['Siri'] }] });
  await createUser(s.db, { tenant: people.tenant, username: 'sup-purpose', password: passwordOf('sup-purpose'), roles: ['supervisor'], fhirUser: `Practitioner/${supervisor}`, totpSecret: people.totpSecret });

  // The clinician signs in once (password, then her TOTP code) in one browser.
  browser = new Browser(s.baseUrl);
  const login = await browser.get(`/auth/login?tenant=${people.tenant}`);
  const afterPassword = await browser.submit(login.html, { username: people.users.clinician, password: passwordOf(people.users.clinician) });
  expect(afterPassword.location).toContain('/auth/second-factor');
  const factor = await browser.get(afterPassword.location as string);
  const done = await browser.submit(factor.html, { code: totp(people.totpSecret) });
  expect(done.status).toBe(303);
  expect(done.location).toBe('/auth/');
}, 60_000);
afterAll(async () => s?.close());

/** /authorize → (consent) → code → /auth/token, in the signed-in browser. Returns the token response. */
async function signIn(scope: string, b: Browser = browser): Promise<{ access_token: string; scope: string }> {
  const { verifier, challenge } = pkcePair();
  let r = await b.get(people.authorizeUrl({ scope, code_challenge: challenge }));
  for (let hop = 0; hop < 10 && r.status === 303 && r.location?.startsWith('/auth/'); hop++) r = await b.get(r.location);
  if (r.status === 200 && r.html.includes('data-page="consent"')) r = await b.submit(r.html, { decision: 'approve' });
  const location = new URL(r.location ?? '', s.baseUrl);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${r.status} ${r.location} ${r.html.slice(0, 300)}`);
  const res = await fetch(`${s.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: people.clientId, redirect_uri: people.redirectUri, code, code_verifier: verifier }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; scope: string };
}

const status = async (path: string, token: string) => (await s.fhir(path, { token })).status;

async function idsOf(path: string, token: string): Promise<string[]> {
  const res = await s.fhir(path, { token });
  expect(res.status).toBe(200);
  return (((await res.json()) as Bundle).entry ?? []).map((e) => e.resource?.id as string);
}

describe('purpose of use requested at authorization', () => {
  let plain: string;
  test('without purpose/TREAT a treating clinician does not see the restricted record of her own patient', async () => {
    const t = await signIn('openid fhirUser user/*.rs');
    plain = t.access_token;
    expect(t.scope.split(' ')).not.toContain('purpose/TREAT');
    expect(await status(`Observation/${restrictedA}`, plain)).toBe(404);
    expect(await idsOf(`Observation?subject=Patient/${people.patientA}`, plain)).toEqual([plainA]);
  });

  test('with purpose/TREAT she does, and only for her own patients', async () => {
    const t = await signIn('openid fhirUser user/*.rs purpose/TREAT');
    expect(t.scope.split(' ')).toContain('purpose/TREAT');
    expect(await status(`Observation/${restrictedA}`, t.access_token)).toBe(200);
    expect((await idsOf(`Observation?subject=Patient/${people.patientA}`, t.access_token)).sort()).toEqual([plainA, restrictedA].sort());
    expect(await status(`Observation/${strangerObs}`, t.access_token)).toBe(404);
  });

  test('a patient asking for purpose/TREAT is not granted it', async () => {
    const patientBrowser = new Browser(s.baseUrl);
    const login = await patientBrowser.get(`/auth/login?tenant=${people.tenant}`);
    await patientBrowser.submit(login.html, { username: people.users.patient, password: passwordOf(people.users.patient) });
    const t = await signIn('openid fhirUser launch/patient patient/*.rs purpose/TREAT', patientBrowser);
    expect(t.scope.split(' ')).not.toContain('purpose/TREAT');
    expect(await status(`Observation/${restrictedA}`, t.access_token)).toBe(404);
  });

  test('discovery lists the purpose scope', async () => {
    const config = (await (await fetch(`${s.baseUrl}/.well-known/smart-configuration`)).json()) as { scopes_supported: string[] };
    expect(config.scopes_supported).toContain('purpose/TREAT');
  });

  describe('break-glass', () => {
    test('a reason is required: a short one is refused (400) and opens nothing', async () => {
      const page = await browser.get('/auth/break-glass');
      expect(page.status).toBe(200);
      expect(page.html).toContain('data-page="break-glass"');
      const refused = await browser.submit(page.html, { reason: 'urgent' });
      expect(refused.status).toBe(400);
      expect(refused.html).toContain('role="alert"');
      expect(await status(`Observation/${restrictedA}`, plain)).toBe(404);
      const { rows } = await s.db.query('SELECT 1 FROM break_glass WHERE tenant = $1', [people.tenant]);
      expect(rows).toHaveLength(0);
    });

    test('opens every patient, restricted records included, to the token she already holds; supervisors are told; audited', async () => {
      const reason = 'Patient collapsed in the waiting room, unknown medication history';
      const page = await browser.get('/auth/break-glass');
      const started = await browser.submit(page.html, { reason });
      expect(started.status).toBe(200);
      expect(started.html).toContain('data-page="break-glass-started"');

      // The token issued before break-glass, without any purpose: now ETREAT for the window.
      expect(await status(`Observation/${restrictedA}`, plain)).toBe(200);
      expect(await status(`Observation/${strangerObs}`, plain)).toBe(200);
      expect(await status(`Patient/${stranger}`, plain)).toBe(200);

      // The supervisors are told.
      const notices = (((await (await s.fhir('Communication?category=http://bh-fhir.org/fhir/CodeSystem/communication-category|break-glass', { token: sys })).json()) as Bundle).entry ?? []).map(
        (e) => e.resource as Communication
      );
      expect(notices).toHaveLength(1);
      expect(notices[0].recipient?.map((r) => r.reference)).toContain(`Practitioner/${supervisor}`);
      expect(notices[0].sender?.reference).toBe(`Practitioner/${people.practitioner}`);
      expect(notices[0].payload?.[0]?.contentString).toContain(reason);
      // … and the supervisor reads it with her own sign-in.
      const supBrowser = new Browser(s.baseUrl);
      const login = await supBrowser.get(`/auth/login?tenant=${people.tenant}`);
      const next = await supBrowser.submit(login.html, { username: 'sup-purpose', password: passwordOf('sup-purpose') });
      const factor = await supBrowser.get(next.location as string);
      await supBrowser.submit(factor.html, { code: totp(people.totpSecret) });
      const supToken = (await signIn('openid fhirUser user/Communication.rs', supBrowser)).access_token;
      expect(await status(`Communication/${notices[0].id}`, supToken)).toBe(200);

      // Audited: the start with its reason, and the reads under it with purpose of use ETREAT.
      const audits = (((await (await s.fhir('AuditEvent?subtype=110127', { token: sys })).json()) as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
      expect(audits).toHaveLength(1);
      expect(audits[0].purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('ETREAT');
      expect(audits[0].agent?.[0]?.who?.reference).toBe(`Practitioner/${people.practitioner}`);
      expect(audits[0].entity?.[0]?.detail?.find((d) => d.type === 'reason')?.valueString).toBe(reason);
      expect(audits[0].entity?.[0]?.what?.reference).toBe(`Communication/${notices[0].id}`);
      const reads = (((await (await s.fhir(`AuditEvent?entity=Observation/${strangerObs}&agent=Practitioner/${people.practitioner}`, { token: sys })).json()) as Bundle).entry ?? [])
        .map((e) => e.resource as AuditEvent)
        .filter((a) => a.outcome === '0');
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.every((a) => a.agent?.some((g) => g.purposeOfUse?.[0]?.coding?.[0]?.code === 'ETREAT'))).toBe(true);
    });

    test('when the window ends (60 minutes by default) restricted records and other patients close again', async () => {
      s.clock.advance(61 * 60_000);
      expect(await status(`Observation/${restrictedA}`, plain)).toBe(404);
      expect(await status(`Observation/${strangerObs}`, plain)).toBe(404);
      expect(await status(`Patient/${stranger}`, plain)).toBe(404);
      expect(await status(`Observation/${plainA}`, plain)).toBe(200);
    });
  });
});

describe('break-glass is for treating staff', () => {
  test('a patient gets 403 and no form', async () => {
    const b = new Browser(s.baseUrl);
    const login = await b.get(`/auth/login?tenant=${people.tenant}`);
    await b.submit(login.html, { username: people.users.patient, password: passwordOf(people.users.patient) });
    const page = await b.get('/auth/break-glass');
    expect(page.status).toBe(403);
    expect(page.html).not.toContain('name="reason"');
  });

  test('without a sign-in: the login page', async () => {
    const page = await new Browser(s.baseUrl).get('/auth/break-glass');
    expect(page.status).toBe(303);
    expect(page.location).toBe('/auth/login');
  });
});
