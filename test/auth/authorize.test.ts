import type { AuditEvent } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createLaunchContext } from '../../server/src/auth/launch/index.ts';
import { isSessionActive } from '../../server/src/auth/session/index.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { Browser, type People, authorizeInBrowserless, passwordOf, pkcePair, seedPeople, totp } from '../support/login.ts';

/**
 * /auth/authorize (SMART App Launch 2.2, "Obtain authorization code") through real HTTP:
 * request checks, login, patient binding and picker, EHR launch contexts, consent, the code row
 * the token endpoint reads.
 */
let server: TestServer;
let people: People;

beforeAll(async () => {
  server = await startTestServer();
  people = await seedPeople(server);
}, 60_000);
afterAll(async () => server?.close());

const hashCode = (code: string) => createHash('sha256').update(code).digest('base64url');

async function codeRow(location: string) {
  const code = new URL(location).searchParams.get('code');
  expect(code).toBeTruthy();
  const r = await server.db.query<{ scope: string; user_id: string; code_challenge: string; context: Record<string, unknown> | string; client_id: string; redirect_uri: string; expires_in: number }>(
    `SELECT scope, user_id, code_challenge, context, client_id, redirect_uri, extract(epoch FROM expires_at - created_at)::int AS expires_in
     FROM authorization_code WHERE code_hash = $1`,
    [hashCode(code!)]
  );
  const row = r.rows[0];
  return { ...row, context: typeof row.context === 'string' ? JSON.parse(row.context) : row.context };
}

async function get(url: string) {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

function errorOf(location: string | null) {
  const u = new URL(location ?? 'http://x/');
  return { base: `${u.origin}${u.pathname}`, error: u.searchParams.get('error'), state: u.searchParams.get('state'), code: u.searchParams.get('code') };
}

describe('request checks before the redirect URI is trusted: a page, never a redirect', () => {
  it('unknown client', async () => {
    const r = await get(people.authorizeUrl({ client_id: 'no-such-app' }));
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
    expect(r.html).toContain('role="alert"');
    expect(r.html).toContain('not registered');
  });

  it('redirect_uri not registered (no open redirect)', async () => {
    const r = await get(people.authorizeUrl({ redirect_uri: 'https://evil.example/callback', code_challenge: undefined }));
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
    expect(r.html).toContain('redirect_uri');
  });

  it('a backend service client cannot start an authorization', async () => {
    await server.token('system/*.rs', people.tenant);
    const { rows } = await server.db.query<{ id: string }>(`SELECT id FROM oauth_client WHERE tenant = $1 AND kind = 'backend-service'`, [people.tenant]);
    const r = await get(people.authorizeUrl({ client_id: rows[0].id }));
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
  });

  it('a repeated parameter', async () => {
    const r = await get(`${people.authorizeUrl()}&state=again`);
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
  });
});

describe('errors after the redirect URI is known go back to it with state', () => {
  const cases: [string, Record<string, string | undefined>, string][] = [
    ['PKCE challenge missing', { code_challenge: undefined }, 'invalid_request'],
    ['PKCE challenge blank', { code_challenge: '' }, 'invalid_request'],
    ['PKCE method plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['PKCE method missing', { code_challenge_method: undefined }, 'invalid_request'],
    ['aud of another server', { aud: 'https://other.example/fhir' }, 'invalid_request'],
    ['aud missing', { aud: undefined }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['only scopes the client may not have', { scope: 'system/*.cruds' }, 'invalid_scope'],
    ['unknown launch', { launch: 'nope', scope: 'launch patient/*.rs' }, 'invalid_request'],
  ];
  for (const [name, params, error] of cases) {
    it(name, async () => {
      const r = await get(people.authorizeUrl({ ...params, state: 'st-123' }));
      expect(r.status).toBe(303);
      const e = errorOf(r.location);
      expect(e.base).toBe(people.redirectUri);
      expect(e.error).toBe(error);
      expect(e.state).toBe('st-123');
      expect(e.code).toBeNull();
    });
  }
});

describe('standalone launch', () => {
  it('a patient is bound to their own record; user/ scopes are not granted; state echoed', async () => {
    const { challenge } = pkcePair();
    const { location } = await authorizeInBrowserless({
      baseUrl: server.baseUrl,
      authorizeUrl: people.authorizeUrl({ state: 'abc', code_challenge: challenge, nonce: 'n-1', scope: 'openid fhirUser launch/patient patient/*.rs user/*.cruds offline_access' }),
      username: people.users.patient,
      password: passwordOf(people.users.patient),
    });
    expect(location.startsWith(`${people.redirectUri}?`)).toBe(true);
    expect(new URL(location).searchParams.get('state')).toBe('abc');
    const row = await codeRow(location);
    expect(row.client_id).toBe(people.clientId);
    expect(row.redirect_uri).toBe(people.redirectUri);
    expect(row.code_challenge).toBe(challenge);
    expect(row.scope.split(' ').sort()).toEqual(['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/*.rs']);
    expect(row.expires_in).toBe(60);
    expect(row.context).toMatchObject({
      patient: people.patientA,
      need_patient_banner: true,
      smart_style_url: `${server.baseUrl}/auth/smart-style.json`,
      fhirUser: `Patient/${people.patientA}`,
      roles: ['patient'],
      userId: row.user_id,
      nonce: 'n-1',
    });
    expect(typeof row.context.auth_time).toBe('number');
    expect(Math.abs((row.context.auth_time as number) - Date.now() / 1000)).toBeLessThan(120);
    expect(await isSessionActive(server.db, row.context.sessionId as string)).toBe(true);
  });

  it('the smart style document is served', async () => {
    const res = await fetch(`${server.baseUrl}/auth/smart-style.json`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Record<string, string>).color_background).toBeTruthy();
  });

  it('a practitioner picks a patient; user/ scopes are granted; consent is remembered', async () => {
    const opts = {
      baseUrl: server.baseUrl,
      username: people.users.clinician,
      password: passwordOf(people.users.clinician),
      totpSecret: people.totpSecret,
    };
    const scope = 'openid fhirUser launch/patient patient/*.rs user/*.cruds';
    const first = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl({ scope }), pickPatient: people.patientB });
    const row = await codeRow(first.location);
    expect(row.context.patient).toBe(people.patientB);
    expect(row.context.fhirUser).toBe(`Practitioner/${people.practitioner}`);
    expect(row.context.roles).toEqual(['clinician']);
    expect(row.scope).toContain('user/*.cruds');
    // Same client, scopes and patient again: no consent screen, so "deny" is never asked.
    const again = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl({ scope }), pickPatient: people.patientB, approve: false });
    expect((await codeRow(again.location)).context.patient).toBe(people.patientB);
  });

  it('consent is remembered per patient: approving the app for one patient does not approve it for another', async () => {
    const opts = { baseUrl: server.baseUrl, username: people.users.clinician, password: passwordOf(people.users.clinician), totpSecret: people.totpSecret };
    const scope = 'openid fhirUser launch/patient patient/Observation.rs';
    // Patient B approved; patient A is asked again (and denied here); B stays remembered.
    const b = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl({ scope }), pickPatient: people.patientB });
    expect((await codeRow(b.location)).context.patient).toBe(people.patientB);
    const a = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl({ scope, state: 'for-a' }), pickPatient: people.patientA, approve: false });
    expect(errorOf(a.location)).toMatchObject({ error: 'access_denied', state: 'for-a', code: null });
    const bAgain = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl({ scope }), pickPatient: people.patientB, approve: false });
    expect((await codeRow(bAgain.location)).context.patient).toBe(people.patientB);
  });

  it('the picker searches patients by name and shows birth dates', async () => {
    const b = new Browser(server.baseUrl);
    // Reuse a logged-in practitioner session through the helper's flow by hand: log in first.
    let r = await b.get(people.authorizeUrl({ scope: 'launch/patient patient/*.rs openid' }));
    r = await b.get(r.location!);
    r = await b.get(r.location!); // login page
    r = await b.submit(r.html, { username: people.users.newClinician, password: passwordOf(people.users.newClinician) });
    r = await b.get(r.location!); // enrolment
    const secret = /data-totp-secret[^>]*>([A-Z2-7]+)</.exec(r.html)![1];
    const { totp } = await import('../support/login.ts');
    r = await b.submit(r.html, { code: totp(secret) });
    expect(r.html).toContain('data-page="recovery-codes"');
    expect((r.html.match(/<li>[A-Z2-7]{5}-[A-Z2-7]{5}<\/li>/g) ?? []).length).toBe(10);
    r = await b.submit(r.html);
    r = await b.get(r.location!);
    expect(r.html).toContain('data-page="pick-patient"');
    const request = /name="request" value="([^"]+)"/.exec(r.html)![1];
    r = await b.get(`/auth/authorize/continue?request=${request}&q=Berg`);
    expect(r.html).toContain('Bo Berg');
    expect(r.html).toContain('2012-05-06');
    expect(r.html).not.toContain('Alva Andersson');
    // A patient id that does not exist is refused.
    r = await b.submit(r.html, { patient: 'does-not-exist' });
    expect(r.status).toBe(400);
  });

  it("a practitioner picks only among the patients she treats: another clinician's patient is neither listed nor accepted", async () => {
    const token = await server.token('system/*.cruds', people.tenant);
    const res = await server.fhir('Patient', { method: 'POST', token, json: { resourceType: 'Patient', name: [{ family: 'Elsewhere', given: ['Edda'] }], birthDate: '1970-01-01' } });
    const outsider = ((await res.json()) as { id: string }).id;
    const opts = { baseUrl: server.baseUrl, username: people.users.clinician, password: passwordOf(people.users.clinician), totpSecret: people.totpSecret };
    await expect(authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl(), pickPatient: outsider })).rejects.toThrow(/400/);
    const { location } = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl(), pickPatient: people.patientA });
    expect((await codeRow(location)).context.patient).toBe(people.patientA);

    const b = new Browser(server.baseUrl);
    let r = await b.get(people.authorizeUrl());
    while (r.location && !r.html.includes('data-page=')) r = await b.get(r.location);
    r = await b.submit(r.html, { username: people.users.clinician, password: passwordOf(people.users.clinician) });
    r = await b.get(r.location!);
    const { totp } = await import('../support/login.ts');
    r = await b.submit(r.html, { code: totp(people.totpSecret, Date.now() + 30_000) });
    r = await b.get(r.location!);
    expect(r.html).toContain('data-page="pick-patient"');
    expect(r.html).toContain('Alva Andersson');
    expect(r.html).not.toContain('Edda Elsewhere');
    const request = /name="request" value="([^"]+)"/.exec(r.html)![1];
    r = await b.get(`/auth/authorize/continue?request=${request}&q=Elsewhere`);
    expect(r.html).not.toContain('Edda Elsewhere');
  });

  it('the picker searches by birth date on the server, says when more patients match instead of cutting the list, and audits every listing', async () => {
    const token = await server.token('system/*.cruds', people.tenant);
    // 21 more patients she treats: with Alva and Bo, more than one page (20).
    for (let i = 0; i < 21; i++) {
      const res = await server.fhir('Patient', { method: 'POST', token, json: { resourceType: 'Patient', name: [{ family: `Zmany${String(i).padStart(2, '0')}`, given: ['Pat'] }], birthDate: '1999-09-09' } });
      const id = ((await res.json()) as { id: string }).id;
      await server.fhir('CareTeam', { method: 'POST', token, json: { resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${id}` }, participant: [{ member: { reference: `Practitioner/${people.practitioner}` } }] } });
    }
    const username = 'picker-audit';
    const secret = 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU';
    await createUser(server.db, { tenant: people.tenant, username, password: passwordOf(username), roles: ['clinician'], fhirUser: `Practitioner/${people.practitioner}`, totpSecret: secret });
    const b = new Browser(server.baseUrl);
    let r = await b.get(people.authorizeUrl());
    while (r.location && !r.html.includes('data-page=')) r = await b.get(r.location);
    r = await b.submit(r.html, { username, password: passwordOf(username) });
    r = await b.get(r.location!);
    r = await b.submit(r.html, { code: totp(secret) });
    r = await b.get(r.location!);
    expect(r.html).toContain('data-page="pick-patient"');
    // The first page, in name order, and a hint that a search finds the others: no silent cap.
    expect(r.html).toContain('Alva Andersson');
    expect((r.html.match(/name="patient"/g) ?? []).length).toBe(20);
    expect(r.html).toContain('data-more');
    const request = /name="request" value="([^"]+)"/.exec(r.html)![1];
    // By birth date, on the server: only Bo.
    r = await b.get(`/auth/authorize/continue?request=${request}&q=2012-05-06`);
    expect(r.html).toContain('Bo Berg');
    expect(r.html).not.toContain('Alva Andersson');
    expect(r.html).not.toContain('data-more');
    // A malformed date is refused in words beside the box, listing nobody.
    r = await b.get(`/auth/authorize/continue?request=${request}&q=2012-13-45`);
    expect(r.html).toContain('id="q-problem"');
    expect(r.html).toContain('No patients found.');

    // Each listing is an AuditEvent of a Patient search: who, the app, the query, the patients shown.
    const audits = await (await server.fhir(`AuditEvent?subtype=search-type&agent=Practitioner/${people.practitioner}&_count=100`, { token })).json();
    const events = (audits.entry ?? []).map((e: { resource: AuditEvent }) => e.resource) as AuditEvent[];
    const queryOf = (e: AuditEvent) => Buffer.from(e.entity?.find((x) => x.query)?.query ?? '', 'base64').toString('utf8');
    const patientsOf = (e: AuditEvent) => (e.entity ?? []).flatMap((x) => (x.what?.reference?.startsWith('Patient/') ? [x.what.reference.slice(8)] : []));
    const byDate = events.find((e) => queryOf(e).includes('birthdate=2012-05-06'));
    expect(byDate).toBeDefined();
    expect(patientsOf(byDate!)).toEqual([people.patientB]);
    expect(byDate!.agent.map((a) => a.who?.reference ?? a.who?.identifier?.value)).toEqual([`Practitioner/${people.practitioner}`, people.clientId]);
    expect(byDate!.outcome).toBe('0');
    const first = events.filter((e) => !/name=|birthdate=/.test(queryOf(e)) && patientsOf(e).length === 20);
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(patientsOf(first[0])).toContain(people.patientA);
    const refused = events.find((e) => queryOf(e).includes('birthdate=2012-13-45'));
    expect(refused?.outcome).toBe('4');
  });

  it('a related person picks among the patients they are linked to', async () => {
    const opts = { baseUrl: server.baseUrl, username: people.users.guardian, password: passwordOf(people.users.guardian) };
    const { location } = await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl(), pickPatient: people.patientB });
    const row = await codeRow(location);
    expect(row.context.patient).toBe(people.patientB);
    expect(row.context.roles).toEqual(['related-person']);
    await expect(authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl(), pickPatient: people.patientA })).rejects.toThrow(/400/);
  });

  it('consent denied → access_denied with state', async () => {
    const { location } = await authorizeInBrowserless({
      baseUrl: server.baseUrl,
      authorizeUrl: people.authorizeUrl({ state: 'deny-me', scope: 'launch/patient patient/Observation.rs' }),
      username: people.users.patient,
      password: passwordOf(people.users.patient),
      approve: false,
    });
    const e = errorOf(location);
    expect(e.error).toBe('access_denied');
    expect(e.state).toBe('deny-me');
    expect(e.code).toBeNull();
  });

  it('authorize by POST (SMART authorize-post)', async () => {
    const url = new URL(people.authorizeUrl({ state: 'posted' }));
    const res = await fetch(`${server.baseUrl}/auth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: url.searchParams.toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/auth\/authorize\/continue\?request=/);
    const bad = await fetch(`${server.baseUrl}/auth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams([...url.searchParams].filter(([k]) => k !== 'code_challenge')).toString(),
      redirect: 'manual',
    });
    expect(errorOf(bad.headers.get('location')).error).toBe('invalid_request');
    expect(errorOf(bad.headers.get('location')).state).toBe('posted');
  });
});

describe('EHR launch', () => {
  const clinician = () => ({ baseUrl: server.baseUrl, username: people.users.clinician, password: passwordOf(people.users.clinician), totpSecret: people.totpSecret });

  it('the launch context patient and encounter go into the code', async () => {
    const launch = await createLaunchContext(server.db, { tenant: people.tenant, patient: people.patientA, encounter: 'enc-1', createdBy: 'test' });
    const { location } = await authorizeInBrowserless({ ...clinician(), authorizeUrl: people.authorizeUrl({ launch, scope: 'launch openid fhirUser patient/*.rs launch/encounter' }) });
    const row = await codeRow(location);
    expect(row.context).toMatchObject({ patient: people.patientA, encounter: 'enc-1', need_patient_banner: true });
    expect(row.scope.split(' ')).toContain('launch');
    expect(row.scope.split(' ')).toContain('launch/encounter');
  });

  it('an expired launch is refused', async () => {
    const launch = await createLaunchContext(server.db, { tenant: people.tenant, patient: people.patientA, createdBy: 'test' });
    await server.db.query(`UPDATE launch_context SET expires_at = now() - interval '1 second' WHERE id = $1`, [launch]);
    const r = await get(people.authorizeUrl({ launch, scope: 'launch patient/*.rs', state: 's' }));
    expect(errorOf(r.location)).toMatchObject({ error: 'invalid_request', state: 's' });
  });

  it("another tenant's launch is refused", async () => {
    await server.ensureTenant('elsewhere');
    const launch = await createLaunchContext(server.db, { tenant: 'elsewhere', patient: people.patientA, createdBy: 'test' });
    const r = await get(people.authorizeUrl({ launch, scope: 'launch patient/*.rs' }));
    expect(errorOf(r.location).error).toBe('invalid_request');
  });

  it('the old EHR simulator address /auth/ehr leads to the launcher app (old bookmarks keep working)', async () => {
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${server.baseUrl}/auth/ehr`, { method, redirect: 'manual' });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/apps/launcher/');
    }
  });
});

it('every authorization endpoint error code is documented in server/src/auth/README.md', async () => {
  const { readFileSync } = await import('node:fs');
  const { AUTHORIZE_ERRORS } = await import('../../server/src/auth/authorize/errors.ts');
  const readme = readFileSync(new URL('../../server/src/auth/README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Authorization endpoint errors'));
  for (const E of AUTHORIZE_ERRORS) expect(section).toContain(`\`${new E('x').error}\``);
});
