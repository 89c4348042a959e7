import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createUser } from '../../server/src/auth/users/index.ts';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import { type People, authorizeInBrowserless, passwordOf, pkcePair, seedPeople } from '../support/login.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { postForm } from './smart-helpers.ts';

// Issue 10 items 1 and 11: staff can be offboarded (user disable | enable | set-roles, by a
// tenant admin over HTTP or by the CLI), a refresh re-reads the user's roles and status, offline
// grants end after an absolute lifetime, and a refused refresh changes nothing. Everything goes
// through real sign-ins (/auth/authorize with the login pages) and the real token endpoint.

const TENANT = 'offboard';
const DAY_MS = 24 * 3600 * 1000;
const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
let s: TestServer;
let people: People;
let admin: { username: string; token: string };

interface Tokens {
  access_token: string;
  refresh_token?: string;
  scope: string;
}

/** Signs `username` in through /auth/authorize and exchanges the code: what a SMART app does. */
async function signIn(username: string, scope: string, opts: { totpSecret?: string; freshSession?: boolean; pickPatient?: string } = {}): Promise<Tokens> {
  const { verifier, challenge } = pkcePair();
  const { location } = await authorizeInBrowserless({
    baseUrl: s.baseUrl,
    authorizeUrl: people.authorizeUrl({ scope, code_challenge: challenge }),
    username,
    password: passwordOf(username),
    totpSecret: opts.totpSecret,
    freshSession: opts.freshSession,
    pickPatient: opts.pickPatient,
  });
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  const res = await postForm(`${s.baseUrl}/auth/token`, {
    grant_type: 'authorization_code',
    client_id: people.clientId,
    code,
    redirect_uri: people.redirectUri,
    code_verifier: verifier,
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

function refresh(token: string, scope?: string): Promise<Response> {
  return postForm(`${s.baseUrl}/auth/token`, {
    grant_type: 'refresh_token',
    client_id: people.clientId,
    refresh_token: token,
    ...(scope ? { scope } : {}),
  });
}

function adminCall(path: string /* username/action */, init: { method: string; token?: string; json?: unknown }): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${s.baseUrl}/auth/users/${path}`, { method: init.method, headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { roles?: string[] };

async function auditSubtypes(code: string): Promise<{ outcome: string; entity?: { what?: { reference?: string } }[] }[]> {
  const sys = await s.token('system/AuditEvent.rs', TENANT);
  const res = await s.fhir(`AuditEvent?subtype=http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype|${code}`, { token: sys });
  expect(res.status).toBe(200);
  return (((await res.json()) as { entry?: { resource: never }[] }).entry ?? []).map((e) => e.resource);
}

beforeAll(async () => {
  s = await startTestServer();
  people = await seedPeople(s, TENANT);
  const sys = await s.token('system/*.cruds', TENANT);
  const res = await s.fhir('Practitioner', { method: 'POST', token: sys, json: { resourceType: 'Practitioner', name: [{ family: 'Admin' }] } });
  const adminPractitioner = ((await res.json()) as { id: string }).id;
  const username = `admin-${TENANT}`;
  await createUser(s.db, { tenant: TENANT, username, password: passwordOf(username), roles: ['tenant-admin'], fhirUser: `Practitioner/${adminPractitioner}` });
  admin = { username, token: (await signIn(username, 'openid fhirUser user/Practitioner.rs')).access_token };
  // A clinical record the clinicians reach (CareTeam in seedPeople) and front desk does not.
  const obs = await s.fhir('Observation', {
    method: 'POST',
    token: sys,
    json: { resourceType: 'Observation', status: 'final', code: { text: 'mood' }, subject: { reference: `Patient/${people.patientA}` } },
  });
  expect(obs.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await s?.close();
});

describe('offboarding (issue 10 item 1)', () => {
  test('disable: the access token gets 401 at once, refresh gets invalid_grant, sign-in is refused; enable lets them sign in again', async () => {
    const user = people.users.clinician;
    const t = await signIn(user, 'openid fhirUser user/*.rs offline_access', { totpSecret: people.totpSecret });
    // Used once, so the server has it in its verified-token cache.
    expect((await s.fhir(`Patient/${people.patientA}`, { token: t.access_token })).status).toBe(200);

    const off = await adminCall(`${user}/disable`, { method: 'POST', token: admin.token });
    expect(off.status).toBe(200);
    expect(await off.json()).toEqual({ username: user, fhirUser: `Practitioner/${people.practitioner}`, roles: ['clinician'], disabled: true });

    const after = await s.fhir(`Patient/${people.patientA}`, { token: t.access_token });
    expect(after.status).toBe(401);
    const r = await refresh(t.refresh_token!);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toBe('invalid_grant');
    await expect(signIn(user, 'openid fhirUser user/*.rs', { totpSecret: people.totpSecret })).rejects.toThrow(/login refused/);

    const events = await auditSubtypes('user-disabled');
    expect(events).toHaveLength(1);
    expect(events[0].outcome).toBe('0');
    expect(events[0].entity?.some((e) => e.what?.reference === `Practitioner/${people.practitioner}`)).toBe(true);

    expect((await adminCall(`${user}/enable`, { method: 'POST', token: admin.token })).status).toBe(200);
    const again = await signIn(user, 'openid fhirUser user/*.rs', { totpSecret: people.totpSecret });
    expect((await s.fhir(`Patient/${people.patientA}`, { token: again.access_token })).status).toBe(200);
    // Enabling does not bring back what was revoked.
    expect((await s.fhir(`Patient/${people.patientA}`, { token: t.access_token })).status).toBe(401);
  });

  test('set-roles: old access tokens stop at once; a refresh issues tokens with the new roles and their access', async () => {
    const user = people.users.newClinician; // clinician + supervisor; enrols a TOTP at first sign-in
    const t = await signIn(user, 'openid fhirUser user/*.rs offline_access');
    expect(claims(t.access_token).roles).toEqual(['clinician', 'supervisor']);
    expect((await s.fhir(`Observation?patient=${people.patientA}`, { token: t.access_token })).status).toBe(200);

    const res = await adminCall(`${user}/roles`, { method: 'PUT', token: admin.token, json: { roles: ['front-desk'] } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { roles: string[] }).roles).toEqual(['front-desk']);

    expect((await s.fhir(`Observation?patient=${people.patientA}`, { token: t.access_token })).status).toBe(401);
    const r = await refresh(t.refresh_token!);
    expect(r.status).toBe(200);
    const next = (await r.json()) as Tokens;
    expect(claims(next.access_token).roles).toEqual(['front-desk']);
    // Front desk: demographics yes, clinical records no.
    expect((await s.fhir(`Patient/${people.patientA}`, { token: next.access_token })).status).toBe(200);
    expect((await s.fhir(`Observation?patient=${people.patientA}`, { token: next.access_token })).status).toBe(403);
    // The family lives on: the rotated refresh token works.
    expect((await refresh(next.refresh_token!)).status).toBe(200);

    const events = await auditSubtypes('user-roles-changed');
    expect(events).toHaveLength(1);
  });

  test('the admin API refuses non-admins, unknown and other tenants\' users, and bad roles, changing nothing', async () => {
    const user = people.users.guardian;
    expect((await adminCall(`${user}/disable`, { method: 'POST' })).status).toBe(401);
    const patient = await signIn(people.users.patient, 'openid fhirUser launch/patient patient/*.rs');
    const forbidden = await adminCall(`${user}/disable`, { method: 'POST', token: patient.access_token });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');

    const other = await seedPeople(s, 'offboard-other');
    const unknown = await adminCall('nobody-here/disable', { method: 'POST', token: admin.token });
    const foreign = await adminCall(`${other.users.clinician}/disable`, { method: 'POST', token: admin.token });
    expect(unknown.status).toBe(404);
    expect(foreign.status).toBe(404);

    const notArray = await adminCall(`${people.users.clinician}/roles`, { method: 'PUT', token: admin.token, json: { roles: 'clinician' } });
    expect(notArray.status).toBe(400);
    expect(((await notArray.json()) as { issue: { expression?: string[] }[] }).issue[0].expression).toEqual(['roles']);
    const misfit = await adminCall(`${people.users.clinician}/roles`, { method: 'PUT', token: admin.token, json: { roles: ['patient'] } });
    expect(misfit.status).toBe(400);
    expect(JSON.stringify(await misfit.json())).toMatch(/Role \\"patient\\" does not fit/);
    const self = await adminCall(`${admin.username}/disable`, { method: 'POST', token: admin.token });
    expect(self.status).toBe(400);

    const rows = await s.db.query<{ username: string; roles: string[]; disabled: boolean }>(
      'SELECT username, roles, disabled FROM app_user WHERE tenant = $1 AND username = ANY($2::text[]) ORDER BY username',
      [TENANT, [user, people.users.clinician, admin.username]]
    );
    expect(rows.rows.map((r) => [r.username, [...r.roles], r.disabled])).toEqual(
      [
        [admin.username, ['tenant-admin'], false],
        [people.users.clinician, ['clinician'], false],
        [user, ['related-person'], false],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    );
    // Refusals after authentication are audited too.
    const refused = (await auditSubtypes('user-disabled')).filter((e) => e.outcome === '4');
    expect(refused.length).toBeGreaterThanOrEqual(4);
  });

  test('a disabled user\'s Subscription delivers nothing more: the subscriber is judged by the account as it is now', async () => {
    const user = people.users.clinician; // enabled again by the first test; its browser session is kept
    const t = await signIn(user, 'openid fhirUser user/*.rs user/Subscription.cruds', { totpSecret: people.totpSecret });
    const created = await s.fhir('Subscription', {
      method: 'POST',
      token: t.access_token,
      json: {
        resourceType: 'Subscription',
        meta: { profile: [`${BP}/backport-subscription`] },
        status: 'requested',
        reason: 'offboarding test',
        criteria: 'http://bh-fhir.org/fhir/SubscriptionTopic/resource/Observation',
        _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: `Observation?patient=Patient/${people.patientA}` }] },
        channel: {
          type: 'websocket',
          payload: 'application/fhir+json',
          _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] },
        },
      },
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const subId = ((await created.json()) as { id: string }).id;
    const sys = await s.token('system/*.cruds', TENANT);
    const write = () =>
      s.fhir('Observation', { method: 'POST', token: sys, json: { resourceType: 'Observation', status: 'final', code: { text: 'sleep' }, subject: { reference: `Patient/${people.patientA}` } } });
    expect((await write()).status).toBe(201);
    const focuses = async () => {
      const res = await s.fhir(`Subscription/${subId}/$events`, { token: sys });
      expect(res.status).toBe(200);
      const bundle = (await res.json()) as { entry?: { resource: { parameter?: { name: string; part?: { name: string; valueReference?: unknown }[] }[] } }[] };
      const events = (bundle.entry?.[0]?.resource.parameter ?? []).filter((p) => p.name === 'notification-event');
      return events.map((e) => e.part?.some((p) => p.name === 'focus') ?? false);
    };
    expect(await focuses()).toEqual([true]);

    expect((await adminCall(`${user}/disable`, { method: 'POST', token: admin.token })).status).toBe(200);
    // No waiting: the revocation also drops the subscriber's cached policy (subscriptions/events.ts).
    expect((await write()).status).toBe(201);
    expect(await focuses()).toEqual([false, false]);
    expect((await adminCall(`${user}/enable`, { method: 'POST', token: admin.token })).status).toBe(200);
  });

  test('CLI user disable revokes the running server\'s tokens at once', async () => {
    const user = people.users.guardian;
    const t = await signIn(user, 'openid fhirUser launch/patient patient/Patient.rs offline_access', { pickPatient: people.patientB });
    expect((await s.fhir(`Patient/${people.patientB}`, { token: t.access_token })).status).toBe(200);
    const out: string[] = [];
    const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
    const code = await runCli(['user', 'disable', '--tenant', TENANT, '--username', user], { out: (l) => out.push(l), err: (l) => out.push(l), openDb: async () => db });
    expect(code).toBe(0);
    expect((await s.fhir(`Patient/${people.patientB}`, { token: t.access_token })).status).toBe(401);
    expect((await refresh(t.refresh_token!)).status).toBe(400);
  });
});

describe('refresh (issue 10 items 11 and 1)', () => {
  test('a refused refresh changes nothing: the same refresh token then works and is not taken for reuse', async () => {
    const t = await signIn(people.users.patient, 'openid fhirUser launch/patient patient/*.rs offline_access');
    const wider = await refresh(t.refresh_token!, 'patient/*.rs offline_access user/*.cruds');
    expect(wider.status).toBe(400);
    expect(((await wider.json()) as { error: string }).error).toBe('invalid_scope');

    const ok = await refresh(t.refresh_token!);
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as Tokens;
    expect((await s.fhir(`Patient/${people.patientA}`, { token: next.access_token })).status).toBe(200);
    expect((await refresh(next.refresh_token!)).status).toBe(200);
  });

  // Last in the file: it moves this server's clock forward by months.
  test('an offline grant ends after OFFLINE_GRANT_MAX_SECONDS (default 90 days) from sign-in, however often rotated', async () => {
    const t = await signIn(people.users.patient, 'openid fhirUser launch/patient patient/*.rs offline_access');
    s.clock.advance(89 * DAY_MS);
    const ok = await refresh(t.refresh_token!);
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as Tokens;
    s.clock.advance(2 * DAY_MS);
    const late = await refresh(next.refresh_token!);
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/absolute lifetime/) });
  });
});
