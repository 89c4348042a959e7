import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// SMART discovery (.well-known/smart-configuration) and OpenID Connect discovery advertise exactly
// what works; every capability names the test that exercises it, and this test checks that the
// named test exists. https://hl7.org/fhir/smart-app-launch/conformance.html

/** capability → [test file under test/auth, exact test name in it]. */
const EXERCISED_BY: Record<string, [string, string]> = {
  'launch-ehr': ['smart-launch-e2e.test.ts', 'EHR launch: the launch id carries patient and encounter'],
  'launch-standalone': ['smart-launch-e2e.test.ts', 'standalone patient launch: patient context, id_token, FHIR read'],
  'authorize-post': ['authorize.test.ts', 'authorize by POST (SMART authorize-post)'],
  'client-public': ['smart-token.test.ts', 'public client: tokens, launch context, id_token (RS256), FHIR read'],
  'client-confidential-symmetric': ['smart-token.test.ts', 'client_secret_basic client'],
  'client-confidential-asymmetric': ['smart-token.test.ts', 'private_key_jwt client'],
  'sso-openid-connect': ['smart-launch-e2e.test.ts', 'sso-openid-connect: id_token with nonce, auth_time and fhirUser'],
  'context-banner': ['smart-launch-e2e.test.ts', 'EHR launch: the launch id carries patient and encounter'],
  'context-style': ['smart-launch-e2e.test.ts', 'EHR launch: the launch id carries patient and encounter'],
  'context-ehr-patient': ['smart-launch-e2e.test.ts', 'EHR launch: the launch id carries patient and encounter'],
  'context-ehr-encounter': ['smart-launch-e2e.test.ts', 'EHR launch: the launch id carries patient and encounter'],
  'context-standalone-patient': ['smart-launch-e2e.test.ts', 'standalone practitioner launch with the patient picker'],
  'permission-offline': ['smart-launch-e2e.test.ts', 'permission-offline: an offline_access refresh token outlives the session'],
  'permission-online': ['smart-launch-e2e.test.ts', 'permission-online: an online_access refresh token works while the session lives, not after logout'],
  'permission-patient': ['smart-launch-e2e.test.ts', 'standalone patient launch: patient context, id_token, FHIR read'],
  'permission-user': ['smart-launch-e2e.test.ts', 'standalone practitioner launch with the patient picker'],
  'permission-v1': ['smart-token.test.ts', 'SMART v1 scopes (patient/*.read) work as well as v2'],
  'permission-v2': ['smart-token.test.ts', 'public client: tokens, launch context, id_token (RS256), FHIR read'],
};

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('.well-known/smart-configuration', () => {
  test.each(['/.well-known/smart-configuration', '/fhir/R4/.well-known/smart-configuration'])('GET %s lists the endpoints and what works', async (path) => {
    const res = await fetch(`${s.baseUrl}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: s.baseUrl,
      jwks_uri: `${s.baseUrl}/auth/jwks`,
      authorization_endpoint: `${s.baseUrl}/auth/authorize`,
      token_endpoint: `${s.baseUrl}/auth/token`,
      registration_endpoint: `${s.baseUrl}/auth/register`,
      introspection_endpoint: `${s.baseUrl}/auth/introspect`,
      revocation_endpoint: `${s.baseUrl}/auth/revoke`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    expect([...(doc.token_endpoint_auth_methods_supported as string[])].sort()).toEqual(['client_secret_basic', 'none', 'private_key_jwt']);
    expect([...(doc.grant_types_supported as string[])].sort()).toEqual(['authorization_code', 'client_credentials', 'refresh_token']);
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access', 'patient/*.rs', 'user/*.rs']));
    expect([...(doc.capabilities as string[])].sort()).toEqual(Object.keys(EXERCISED_BY).sort());
  });

  test('every advertised capability is exercised by a named test that exists', () => {
    for (const [capability, [file, name]] of Object.entries(EXERCISED_BY)) {
      const source = readFileSync(join(import.meta.dirname, file), 'utf8');
      expect(source.includes(`'${name}'`), `${capability}: "${name}" in ${file}`).toBe(true);
    }
  });

  test('the endpoints it names answer (not 404)', async () => {
    const doc = (await (await fetch(`${s.baseUrl}/.well-known/smart-configuration`)).json()) as Record<string, string>;
    for (const k of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'registration_endpoint']) {
      const res = await fetch(doc[k], { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(res.status, k).not.toBe(404);
      expect((await res.json()) as object, k).toHaveProperty('error');
    }
    expect((await fetch(doc.authorization_endpoint, { redirect: 'manual' })).status).not.toBe(404);
  });
});

describe('OpenID Connect discovery and keys', () => {
  test('GET /.well-known/openid-configuration', async () => {
    const res = await fetch(`${s.baseUrl}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toMatchObject({
      issuer: s.baseUrl,
      authorization_endpoint: `${s.baseUrl}/auth/authorize`,
      token_endpoint: `${s.baseUrl}/auth/token`,
      jwks_uri: `${s.baseUrl}/auth/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      code_challenge_methods_supported: ['S256'],
      claims_supported: expect.arrayContaining(['sub', 'fhirUser', 'nonce', 'auth_time']),
      scopes_supported: expect.arrayContaining(['openid', 'fhirUser']),
      grant_types_supported: expect.arrayContaining(['authorization_code', 'refresh_token']),
      token_endpoint_auth_methods_supported: expect.arrayContaining(['none', 'client_secret_basic', 'private_key_jwt']),
    });
  });

  test('/auth/jwks publishes the ES256 access-token key, the RS256 id_token key and the ES256 note-signing key, public parts only', async () => {
    const { keys } = (await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: Record<string, string>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'ES256', 'RS256']);
    for (const k of keys) {
      expect(typeof k.kid).toBe('string');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv);
    }
  });

  test('CORS on /metadata (SMART: browser apps read it)', async () => {
    const res = await fetch(`${s.fhirBase}/metadata`, { headers: { origin: 'https://app.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});
