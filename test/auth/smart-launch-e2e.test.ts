import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import smart from 'fhirclient/lib/entry/node.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerSmartApp } from '../../server/src/auth/clients/smart-app.ts';
import { createLaunchContext } from '../../server/src/auth/launch/index.ts';
import { endSession } from '../../server/src/auth/session/index.ts';
import { type People, authorizeInBrowserless, passwordOf, seedPeople } from '../support/login.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// SMART App Launch end to end: /auth/authorize (login, TOTP, picker, consent — the people side)
// and the back channel, driven by client libraries we did not write: openid-client (OIDC RP)
// and fhirclient (SMART's own JavaScript client, its Node adapter inside a small express app).
// https://hl7.org/fhir/smart-app-launch/app-launch.html

let s: TestServer;
let people: People;
let appServer: http.Server;
let appBase: string;
let fhirclientApp: string;
let encounterId: string;
/** What the app's /callback saw, by state. */
const storage = new Map<string, unknown>();

beforeAll(async () => {
  s = await startTestServer();
  people = await seedPeople(s, 'smart-e2e');
  const sys = await s.token('system/*.cruds', people.tenant);
  const enc = await s.fhir('Encounter', {
    method: 'POST',
    token: sys,
    json: { resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${people.patientA}` } },
  });
  encounterId = ((await enc.json()) as { id: string }).id;

  // A SMART app built on fhirclient's Node adapter: /launch starts authorization, /callback finishes it.
  const app = express();
  const store = {
    get: async (k: string) => storage.get(k),
    set: async (k: string, v: unknown) => {
      storage.set(k, v);
      return v;
    },
    unset: async (k: string) => storage.delete(k),
  };
  app.get('/launch', (req, res) => {
    const q = req.query as Record<string, string>;
    smart(req, res, store as never)
      .authorize({ iss: q.iss, launch: q.launch, clientId: fhirclientApp, scope: q.scope, redirectUri: '/callback', pkceMode: 'required' })
      .catch((e: Error) => res.status(500).send(e.message));
  });
  app.get('/callback', (req, res) => {
    smart(req, res, store as never)
      .ready()
      .then(async (client) => {
        // A clinician's reads also depend on care relationships (access/ policy), not on the launch: record, don't fail.
        const patient = client.patient.id ? await client.patient.read().catch((e: Error) => ({ readError: e.message.split('\n')[0] })) : undefined;
        res.json({ tokenResponse: client.state.tokenResponse, patientId: client.patient.id, encounterId: client.encounter.id, fhirUser: client.user.fhirUser, patient });
      })
      .catch((e: Error) => res.status(500).json({ error: e.message }));
  });
  appServer = http.createServer(app);
  await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
  appBase = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;
  fhirclientApp = (
    await registerSmartApp(s.db, {
      tenant: people.tenant,
      name: 'fhirclient app',
      redirectUris: [`${appBase}/callback`],
      authMethod: 'none',
      launchUri: `${appBase}/launch`,
      scope: 'launch launch/patient launch/encounter openid fhirUser offline_access online_access patient/*.rs user/*.rs',
    })
  ).clientId;
}, 60_000);
afterAll(async () => {
  await new Promise<void>((r) => appServer?.close(() => r()));
  await s?.close();
});

/** Runs fhirclient's launch → /authorize (as the user) → callback; returns what the app saw. */
async function fhirclientLaunch(o: { scope: string; username: string; totpSecret?: string; launch?: string; pickPatient?: string }) {
  const q = new URLSearchParams({ iss: s.fhirBase, scope: o.scope, ...(o.launch ? { launch: o.launch } : {}) });
  const start = await fetch(`${appBase}/launch?${q}`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorizeUrl = start.headers.get('location') as string;
  expect(authorizeUrl.startsWith(`${s.baseUrl}/auth/authorize?`)).toBe(true);
  expect(new URL(authorizeUrl).searchParams.get('code_challenge_method')).toBe('S256');
  const { location } = await authorizeInBrowserless({
    baseUrl: s.baseUrl,
    authorizeUrl,
    username: o.username,
    password: passwordOf(o.username),
    totpSecret: o.totpSecret,
    pickPatient: o.pickPatient,
  });
  expect(location.startsWith(`${appBase}/callback?`)).toBe(true);
  const done = await fetch(location);
  const body = (await done.json()) as Record<string, any>;
  if (done.status !== 200) throw new Error(`callback failed: ${JSON.stringify(body)}`);
  return body;
}

describe('fhirclient (SMART JavaScript client, Node adapter)', () => {
  test('standalone patient launch: patient context, id_token, FHIR read', async () => {
    const r = await fhirclientLaunch({ scope: 'launch/patient openid fhirUser patient/*.rs', username: people.users.patient });
    expect(r.patientId).toBe(people.patientA);
    expect(r.fhirUser).toBe(`Patient/${people.patientA}`);
    expect(r.patient).toMatchObject({ resourceType: 'Patient', id: people.patientA });
    expect(typeof r.tokenResponse.id_token).toBe('string');
    expect(r.tokenResponse.token_type).toBe('Bearer');
  });

  test('standalone practitioner launch with the patient picker', async () => {
    const r = await fhirclientLaunch({
      scope: 'launch/patient openid fhirUser user/*.rs',
      username: people.users.clinician,
      totpSecret: people.totpSecret,
      pickPatient: people.patientB,
    });
    expect(r.patientId).toBe(people.patientB);
    expect(r.fhirUser).toBe(`Practitioner/${people.practitioner}`);
    expect(r.tokenResponse).toMatchObject({ patient: people.patientB, scope: expect.stringContaining('user/') });
    // A user/ scope token works on the FHIR API: the practitioner reads their own record.
    const me = await s.fhir(`Practitioner/${people.practitioner}`, { token: r.tokenResponse.access_token });
    expect(me.status).toBe(200);
  });

  test('EHR launch: the launch id carries patient and encounter', async () => {
    const launch = await createLaunchContext(s.db, { tenant: people.tenant, patient: people.patientA, encounter: encounterId, needPatientBanner: false, createdBy: 'ehr-test' });
    const r = await fhirclientLaunch({
      scope: 'launch openid fhirUser user/*.rs',
      username: people.users.clinician,
      totpSecret: people.totpSecret,
      launch,
    });
    expect(r.patientId).toBe(people.patientA);
    expect(r.encounterId).toBe(encounterId);
    expect(r.tokenResponse).toMatchObject({ patient: people.patientA, encounter: encounterId, need_patient_banner: false });
    expect(typeof r.tokenResponse.smart_style_url).toBe('string');
  });
});

describe('openid-client against the real /authorize', () => {
  async function standalone(scope: string) {
    const config = await oidc.discovery(new URL(s.baseUrl), people.clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: people.redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      aud: s.fhirBase,
    });
    const { location } = await authorizeInBrowserless({ baseUrl: s.baseUrl, authorizeUrl: url.href, username: people.users.patient, password: passwordOf(people.users.patient) });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(location), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    return { config, tokens };
  }

  test('sso-openid-connect: id_token with nonce, auth_time and fhirUser', async () => {
    const { tokens } = await standalone('openid fhirUser launch/patient patient/*.rs');
    const claims = tokens.claims();
    expect(claims).toMatchObject({ iss: s.baseUrl, aud: people.clientId, fhirUser: `${s.fhirBase}/Patient/${people.patientA}` });
    expect(typeof claims?.auth_time).toBe('number');
    expect((await s.fhir(`Patient/${people.patientA}`, { token: tokens.access_token })).status).toBe(200);
  });

  test('permission-offline: an offline_access refresh token outlives the session', async () => {
    const { config, tokens } = await standalone('openid fhirUser launch/patient patient/*.rs offline_access');
    const grant = await s.db.query<{ session_id: string }>('SELECT session_id FROM token_grant WHERE client_id = $1 ORDER BY created_at DESC LIMIT 1', [people.clientId]);
    await endSession(s.db, grant.rows[0].session_id);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    expect((await s.fhir(`Patient/${people.patientA}`, { token: refreshed.access_token })).status).toBe(200);
  });

  test('permission-online: an online_access refresh token works while the session lives, not after logout', async () => {
    const { config, tokens } = await standalone('openid fhirUser launch/patient patient/*.rs online_access');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(refreshed.refresh_token).toBeDefined();
    const grant = await s.db.query<{ session_id: string }>('SELECT session_id FROM token_grant WHERE client_id = $1 ORDER BY created_at DESC LIMIT 1', [people.clientId]);
    await endSession(s.db, grant.rows[0].session_id);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
