import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type People, authorizeInBrowserless, passwordOf, pkcePair, seedPeople } from '../support/login.ts';

/**
 * The EHR launch API (server/src/auth/launch/ehr-launch-api.ts) through real HTTP: only a
 * practitioner's token issued to the launcher app may create launches; the patient is read with
 * that token through the access layer (hidden = missing); the encounter must be the patient's;
 * every decision is audited; the launch it creates carries patient and encounter into the code.
 */
let server: TestServer;
let people: People;
let userId: string;
const LAUNCHER = 'launcher-people';
/** Treated by the practitioner: A and C (care teams). Not treated: B. */
let patientC: string;
let encounterA: string;
let encounterB: string;
let encounterC: string;
let hiddenPatient: string;

beforeAll(async () => {
  server = await startTestServer();
  people = await seedPeople(server);
  const token = await server.token('system/*.cruds', people.tenant);
  const create = async (json: Record<string, unknown>) => {
    const res = await server.fhir(String(json.resourceType), { method: 'POST', token, json });
    if (res.status !== 201) throw new Error(`create ${String(json.resourceType)}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  patientC = await create({ resourceType: 'Patient', name: [{ family: 'Cedergren', given: ['Clara'] }] });
  // A patient of the clinic this practitioner does not treat (no care team, no encounter with her).
  hiddenPatient = await create({ resourceType: 'Patient', name: [{ family: 'Hidden', given: ['Hedda'] }] });
  const me = { reference: `Practitioner/${people.practitioner}` };
  for (const p of [people.patientA, patientC]) {
    await create({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${p}` }, participant: [{ member: me }] });
  }
  const encounter = (patient: string, withMe: boolean) =>
    create({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${patient}` },
      ...(withMe ? { participant: [{ individual: me }] } : {}),
    });
  encounterA = await encounter(people.patientA, true);
  encounterB = await encounter(hiddenPatient, false);
  encounterC = await encounter(patientC, true);
  // The launcher app as the demo clinic registers it: redirect URI = this server's /apps/launcher/.
  await server.db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status)
     VALUES ($1, $2, 'EHR launcher', 'smart-app', 'openid fhirUser offline_access user/Patient.rs user/Encounter.rs', 'none', $3, 'approved')`,
    [people.tenant, LAUNCHER, [`${server.baseUrl}/apps/launcher/`]]
  );
  const { rows } = await server.db.query<{ id: string }>('SELECT id FROM app_user WHERE username = $1', [people.users.clinician]);
  userId = rows[0].id;
}, 60_000);
afterAll(async () => server?.close());

const launcherToken = (over: Record<string, unknown> = {}) =>
  server.personToken({
    tenant: people.tenant,
    clientId: LAUNCHER,
    scope: 'openid fhirUser user/Patient.rs user/Encounter.rs',
    userId,
    fhirUser: `Practitioner/${people.practitioner}`,
    roles: ['clinician'],
    ...over,
  });

async function launch(body: unknown, token?: string) {
  const res = await fetch(`${server.baseUrl}/auth/launch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', auth: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
}

const issueText = (b: Record<string, unknown>) => (b as unknown as OperationOutcome).issue?.[0]?.details?.text;

async function launchAudits(patient: string): Promise<AuditEvent[]> {
  const token = await server.token('system/*.rs', people.tenant);
  const res = await server.fhir(`AuditEvent?patient=${patient}&subtype=http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype|ehr-launch`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource!) ?? [];
}

describe('who may call the launch API', () => {
  it('without a token: 401 with WWW-Authenticate, an OperationOutcome', async () => {
    const r = await launch({ app: people.clientId, patient: people.patientA });
    expect(r.status).toBe(401);
    expect(r.auth).toMatch(/^Bearer/);
    expect(r.type).toContain('application/fhir+json');
    expect(r.body.resourceType).toBe('OperationOutcome');
    const apps = await fetch(`${server.baseUrl}/auth/launch/apps`);
    expect(apps.status).toBe(401);
  });

  it("a patient's token (even one issued to the launcher client) is refused: 403", async () => {
    const patientToken = await launcherToken({ fhirUser: `Patient/${people.patientA}`, roles: ['patient'], patient: people.patientA, scope: 'openid fhirUser patient/*.rs' });
    const r = await launch({ app: people.clientId, patient: people.patientA }, patientToken);
    expect(r.status).toBe(403);
    expect(r.body.resourceType).toBe('OperationOutcome');
  });

  it("a practitioner's token issued to another app is refused: 403 (only the launcher launches)", async () => {
    const other = await launcherToken({ clientId: people.clientId, scope: 'openid fhirUser user/*.cruds' });
    const r = await launch({ app: people.clientId, patient: people.patientA }, other);
    expect(r.status).toBe(403);
    expect(issueText(r.body)).toMatch(/launcher/);
  });

  it('the launcher lists the apps it can launch: approved SMART apps with a launch URL', async () => {
    const res = await fetch(`${server.baseUrl}/auth/launch/apps`, { headers: { authorization: `Bearer ${await launcherToken()}` } });
    expect(res.status).toBe(200);
    const { apps } = (await res.json()) as { apps: { id: string; name: string }[] };
    expect(apps).toContainEqual({ id: people.clientId, name: 'Test App' });
    expect(apps.map((a) => a.id)).not.toContain(LAUNCHER);
  });
});

describe('what may be launched', () => {
  it('a patient the practitioner may not see answers exactly like a missing one: 404', async () => {
    const token = await launcherToken();
    const hidden = await launch({ app: people.clientId, patient: hiddenPatient }, token);
    const missing = await launch({ app: people.clientId, patient: 'no-such-patient' }, token);
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    const same = (b: Record<string, unknown>, id: string) => JSON.stringify(b).replaceAll(id, '<id>');
    expect(same(hidden.body, hiddenPatient)).toBe(same(missing.body, 'no-such-patient'));
    // Hidden records stay hidden in the launcher's own FHIR search too.
    const search = await server.fhir(`Patient?_id=${hiddenPatient},${people.patientA}`, { token });
    const ids = ((await search.json()) as Bundle).entry?.map((e) => e.resource?.id);
    expect(ids).toEqual([people.patientA]);
  });

  it("an encounter of another patient is refused (400 naming it); a hidden encounter is 404", async () => {
    const token = await launcherToken();
    const other = await launch({ app: people.clientId, patient: people.patientA, encounter: encounterC }, token);
    expect(other.status).toBe(400);
    expect((other.body as unknown as OperationOutcome).issue?.[0]?.expression).toEqual(['encounter']);
    const hidden = await launch({ app: people.clientId, patient: people.patientA, encounter: encounterB }, token);
    expect(hidden.status).toBe(404);
  });

  it('bad input is a 400 naming the field; an unknown app is a 404', async () => {
    const token = await launcherToken();
    const noPatient = await launch({ app: people.clientId }, token);
    expect(noPatient.status).toBe(400);
    expect((noPatient.body as unknown as OperationOutcome).issue?.[0]?.expression).toEqual(['patient']);
    const unknownApp = await launch({ app: 'no-such-app', patient: people.patientA }, token);
    expect(unknownApp.status).toBe(404);
    expect((unknownApp.body as unknown as OperationOutcome).issue?.[0]?.expression).toEqual(['app']);
    const launcherItself = await launch({ app: LAUNCHER, patient: people.patientA }, token);
    expect(launcherItself.status).toBe(404);
  });

  it('a refusal is audited too', async () => {
    const audits = await launchAudits(hiddenPatient);
    expect(audits.length).toBeGreaterThan(0);
    expect(audits.every((a) => a.outcome === '4')).toBe(true);
    expect(audits[0].agent?.[0]?.who?.reference).toBe(`Practitioner/${people.practitioner}`);
  });
});

describe('a launch', () => {
  it('creates the launch context (patient + encounter), answers the app URL with iss and launch, and is audited', async () => {
    const r = await launch({ app: people.clientId, patient: people.patientA, encounter: encounterA }, await launcherToken());
    expect(r.status).toBe(201);
    const url = new URL(String(r.body.url));
    expect(`${url.origin}${url.pathname}`).toBe(people.launchUri);
    expect(url.searchParams.get('iss')).toBe(server.fhirBase);
    expect(url.searchParams.get('launch')).toBe(r.body.launch);
    const { rows } = await server.db.query<{ context: unknown; created_by: string }>('SELECT context, created_by FROM launch_context WHERE id = $1', [r.body.launch]);
    const ctx = typeof rows[0].context === 'string' ? JSON.parse(rows[0].context) : rows[0].context;
    expect(ctx).toMatchObject({ patient: people.patientA, encounter: encounterA });
    expect(rows[0].created_by).toBe(userId);

    const audits = await launchAudits(people.patientA);
    const ok = audits.find((a) => a.outcome === '0');
    expect(ok).toBeDefined();
    expect(ok!.type?.code).toBe('110100');
    expect(ok!.subtype?.map((s) => s.code)).toEqual(['110120', 'ehr-launch']);
    expect(ok!.agent?.map((a) => a.who?.reference ?? a.who?.identifier?.value)).toEqual([`Practitioner/${people.practitioner}`, LAUNCHER]);
    const what = ok!.entity?.map((e) => e.what?.reference ?? e.what?.identifier?.value);
    expect(what).toEqual([`Patient/${people.patientA}`, `Encounter/${encounterA}`, people.clientId]);
  });

  it('the app that follows the launch gets patient and encounter; consent is asked once per patient', async () => {
    const opts = { baseUrl: server.baseUrl, username: people.users.clinician, password: passwordOf(people.users.clinician), totpSecret: people.totpSecret };
    const scope = 'launch openid fhirUser patient/*.rs launch/encounter';
    const token = await launcherToken();
    const authorizeFor = async (patient: string, encounter: string, approve: boolean) => {
      const r = await launch({ app: people.clientId, patient, encounter }, token);
      expect(r.status).toBe(201);
      const { location } = await authorizeInBrowserless({ ...opts, approve, authorizeUrl: people.authorizeUrl({ launch: String(r.body.launch), scope, code_challenge: pkcePair().challenge }) });
      return new URL(location).searchParams;
    };
    // First launch for A: consent asked and approved.
    expect((await authorizeFor(people.patientA, encounterA, true)).get('code')).toBeTruthy();
    // A again: remembered, so "deny" is never asked and a code comes back.
    expect((await authorizeFor(people.patientA, encounterA, false)).get('code')).toBeTruthy();
    // C: another patient, so consent is asked again (denied here).
    expect((await authorizeFor(patientC, encounterC, false)).get('error')).toBe('access_denied');
    const code = (await authorizeFor(patientC, encounterC, true)).get('code')!;
    const { createHash } = await import('node:crypto');
    const { rows } = await server.db.query<{ context: unknown }>('SELECT context FROM authorization_code WHERE code_hash = $1', [createHash('sha256').update(code).digest('base64url')]);
    const ctx = typeof rows[0].context === 'string' ? JSON.parse(rows[0].context) : rows[0].context;
    expect(ctx).toMatchObject({ patient: patientC, encounter: encounterC });
  });
});
