import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { loadConfig } from '../../server/src/config.ts';
import { DEMO_APP, DEMO_LOGINS, DEMO_TOTP_SECRET, seedDemoUsers } from '../../server/src/seed/demo-users.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { authorizeInBrowserless, pkcePair } from '../support/login.ts';

/** The documented demo logins (README "Demo logins") work against the demo SMART app. */
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  // The demo clinic's people as seed/demo.ts creates them, then the demo logins on top.
  await server.ensureTenant('demo');
  const token = await server.token('system/*.cruds', 'demo');
  for (const json of [
    { resourceType: 'Practitioner', name: [{ family: 'Rivera', given: ['Ana'] }] },
    { resourceType: 'Patient', name: [{ family: 'Nguyen', given: ['Linh'] }], birthDate: '1991-04-12' },
    { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Maja'] }], birthDate: '2007-01-22' },
  ]) {
    expect((await server.fhir(json.resourceType, { method: 'POST', token, json })).status).toBe(201);
  }
  await seedDemoUsers(server.db, loadConfig({ BASE_URL: server.baseUrl }), 'demo');
}, 120_000);
afterAll(async () => server?.close());

const url = (scope: string) => {
  const u = new URL(`${server.baseUrl}/auth/authorize`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: DEMO_APP,
    redirect_uri: `${server.baseUrl}/apps/demo/callback`,
    scope,
    state: 'demo',
    aud: server.fhirBase,
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
  }))
    u.searchParams.set(k, v);
  return u.toString();
};

async function context(location: string): Promise<Record<string, unknown>> {
  const code = new URL(location).searchParams.get('code')!;
  const { rows } = await server.db.query<{ context: unknown }>('SELECT context FROM authorization_code WHERE code_hash = $1', [createHash('sha256').update(code).digest('base64url')]);
  return (typeof rows[0].context === 'string' ? JSON.parse(rows[0].context) : rows[0].context) as Record<string, unknown>;
}

async function patientId(family: string): Promise<string> {
  const { rows } = await server.db.query<{ rid: string }>(`SELECT rid FROM idx_string WHERE tenant = 'demo' AND rtype = 'Patient' AND param = 'family' AND norm = $1`, [family.toLowerCase()]);
  return rows[0].rid;
}

it('every demo practitioner logs in with the shared TOTP secret', async () => {
  for (const who of [DEMO_LOGINS.clinician, DEMO_LOGINS.supervisor, DEMO_LOGINS.frontDesk, DEMO_LOGINS.tenantAdmin]) {
    const { location } = await authorizeInBrowserless({
      baseUrl: server.baseUrl,
      authorizeUrl: url('openid fhirUser user/*.cruds'),
      username: who.username,
      password: who.password,
      totpSecret: DEMO_TOTP_SECRET,
    });
    const ctx = await context(location);
    expect(ctx.roles).toEqual(who.roles);
    expect(String(ctx.fhirUser)).toMatch(/^Practitioner\//);
  }
});

it('the demo patient is bound to Linh Nguyen; the guardian picks Maja Lindqvist', async () => {
  const p = await authorizeInBrowserless({ baseUrl: server.baseUrl, authorizeUrl: url('launch/patient patient/*.rs'), ...DEMO_LOGINS.patient });
  expect((await context(p.location)).patient).toBe(await patientId('Nguyen'));
  const maja = await patientId('Lindqvist');
  const g = await authorizeInBrowserless({ baseUrl: server.baseUrl, authorizeUrl: url('launch/patient patient/*.rs'), ...DEMO_LOGINS.guardian, pickPatient: maja });
  expect((await context(g.location)).patient).toBe(maja);
});
