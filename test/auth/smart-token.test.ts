import { type JWK, SignJWT, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { issueAccessToken } from '../../server/src/auth/access-token.ts';
import { registerSmartApp } from '../../server/src/auth/clients/smart-app.ts';
import { loadSigningKeys } from '../../server/src/auth/keys.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { basic, expectOAuthError, mintCode, newVerifier, postForm, s256 } from './smart-helpers.ts';

// SMART App Launch 2.2, the back channel: the token endpoint's authorization_code and
// refresh_token grants, id_token, refresh rotation, revocation and introspection, driven by a
// third-party OAuth/OIDC client (openid-client) plus raw requests for the exact wire errors.
// Codes are written the way /auth/authorize writes them (smart-helpers.ts mintCode); the full
// browser flow is in smart-launch-e2e.test.ts.
// https://hl7.org/fhir/smart-app-launch/app-launch.html

const TENANT = 'smart-token';
const REDIRECT = 'https://app.example/callback';
let s: TestServer;
let tokenUrl: string;
let userId: string;
let patientId: string;
let publicApp: string;
let basicApp: { clientId: string; clientSecret: string };
let jwtApp: { clientId: string; key: CryptoKey; kid: string };

beforeAll(async () => {
  s = await startTestServer();
  tokenUrl = `${s.baseUrl}/auth/token`;
  await s.ensureTenant(TENANT);
  const sys = await s.token('system/*.cruds', TENANT);
  const created = await s.fhir('Patient', { method: 'POST', token: sys, json: { resourceType: 'Patient', name: [{ family: 'Token' }] } });
  patientId = ((await created.json()) as { id: string }).id;
  const user = await createUser(s.db, { tenant: TENANT, username: 'pat', password: 'correct horse battery', roles: ['patient'], fhirUser: `Patient/${patientId}` });
  userId = user.id;
  const scope = 'launch/patient openid fhirUser profile offline_access online_access patient/*.rs patient/*.read';
  publicApp = (await registerSmartApp(s.db, { tenant: TENANT, name: 'public', redirectUris: [REDIRECT], authMethod: 'none', scope })).clientId;
  const b = await registerSmartApp(s.db, { tenant: TENANT, name: 'basic', redirectUris: [REDIRECT], authMethod: 'client_secret_basic', scope });
  basicApp = { clientId: b.clientId, clientSecret: b.clientSecret as string };
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid } as JWK;
  const j = await registerSmartApp(s.db, { tenant: TENANT, name: 'jwt', redirectUris: [REDIRECT], authMethod: 'private_key_jwt', jwks: { keys: [jwk] }, scope });
  jwtApp = { clientId: j.clientId, key: privateKey, kid };
});
afterAll(async () => {
  await s?.close();
});

const CONTEXT = () => ({
  patient: patientId,
  need_patient_banner: true,
  smart_style_url: 'https://ehr.example/style.json',
  fhirUser: `Patient/${patientId}`,
  roles: ['patient'],
  userId,
  auth_time: Math.floor(Date.now() / 1000) - 5,
  sessionId: 'no-such-session',
});

async function discovered(clientId: string, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(s.baseUrl), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

function jwtAuth(aud?: string): oidc.ClientAuth {
  return oidc.PrivateKeyJwt(
    { key: jwtApp.key, kid: jwtApp.kid },
    {
      [oidc.modifyAssertion]: (header, payload) => {
        header.typ = 'JWT';
        payload.aud = aud ?? tokenUrl;
      },
    }
  );
}

/** Runs the authorization-code flow with openid-client; /authorize is stood in for by mintCode. */
async function codeFlow(config: oidc.Configuration, clientId: string, scope: string, extra: Record<string, unknown> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    aud: s.fhirBase,
  });
  expect(url.href.startsWith(`${s.baseUrl}/auth/authorize?`)).toBe(true);
  const code = await mintCode(s.db, {
    tenant: TENANT,
    clientId,
    userId,
    redirectUri: REDIRECT,
    scope,
    codeChallenge: url.searchParams.get('code_challenge') as string,
    context: { ...CONTEXT(), nonce, ...extra },
  });
  const callback = new URL(`${REDIRECT}?code=${code}&state=${state}`);
  const openid = scope.split(' ').includes('openid');
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, ...(openid ? { expectedNonce: nonce, idTokenExpected: true } : {}) });
}

const read = (token: string) => s.fhir(`Patient/${patientId}`, { token });

describe('authorization_code + PKCE with openid-client', () => {
  test('public client: tokens, launch context, id_token (RS256), FHIR read', async () => {
    const config = await discovered(publicApp, oidc.None());
    const tokens = await codeFlow(config, publicApp, 'launch/patient openid fhirUser patient/*.rs');
    expect(tokens.token_type).toBe('bearer'); // openid-client normalizes case; the wire value is checked below
    expect(tokens.scope).toBe('launch/patient openid fhirUser patient/*.rs');
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.expires_in).toBeLessThanOrEqual(3600);
    expect(tokens).toMatchObject({ patient: patientId, need_patient_banner: true, smart_style_url: 'https://ehr.example/style.json' });
    expect(tokens.refresh_token).toBeUndefined();

    // id_token: RS256 by a key published at /auth/jwks, with the SMART/OIDC claims.
    const idToken = tokens.id_token as string;
    expect(decodeProtectedHeader(idToken).alg).toBe('RS256');
    const jwks = createLocalJWKSet((await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: JWK[] });
    const { payload } = await jwtVerify(idToken, jwks, { issuer: s.baseUrl, audience: publicApp, algorithms: ['RS256'] });
    expect(payload).toMatchObject({ sub: userId, fhirUser: `${s.fhirBase}/Patient/${patientId}` });
    expect(typeof payload.auth_time).toBe('number');
    expect(tokens.claims()?.fhirUser).toBe(`${s.fhirBase}/Patient/${patientId}`);

    // The access token is ES256, for the FHIR base, and works there.
    expect(decodeProtectedHeader(tokens.access_token).alg).toBe('ES256');
    expect((await read(tokens.access_token)).status).toBe(200);
  });

  test('client_secret_basic client', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const tokens = await codeFlow(config, basicApp.clientId, 'launch/patient openid fhirUser patient/*.rs offline_access');
    expect(typeof tokens.refresh_token).toBe('string');
    expect((await read(tokens.access_token)).status).toBe(200);
  });

  test('private_key_jwt client', async () => {
    const config = await discovered(jwtApp.clientId, jwtAuth());
    const tokens = await codeFlow(config, jwtApp.clientId, 'launch/patient patient/*.rs');
    expect(tokens.id_token).toBeUndefined();
    expect((await read(tokens.access_token)).status).toBe(200);
  });

  test('SMART v1 scopes (patient/*.read) work as well as v2', async () => {
    const config = await discovered(publicApp, oidc.None());
    const tokens = await codeFlow(config, publicApp, 'launch/patient patient/*.read');
    expect(tokens.scope).toBe('launch/patient patient/*.read');
    expect((await read(tokens.access_token)).status).toBe(200);
  });

  test('every response carries Cache-Control: no-store and Pragma: no-cache', async () => {
    const verifier = newVerifier();
    const code = await mintCode(s.db, { tenant: TENANT, clientId: publicApp, userId, redirectUri: REDIRECT, scope: 'patient/*.rs', codeChallenge: s256(verifier), context: CONTEXT() });
    const ok = await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: publicApp });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { token_type: string }).token_type).toBe('Bearer');
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('pragma')).toBe('no-cache');
    const bad = await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: publicApp });
    expect(bad.headers.get('pragma')).toBe('no-cache');
    await expectOAuthError(bad, 400, 'invalid_grant');
  });
});

describe('refresh tokens', () => {
  test('rotation; reuse of a used refresh token revokes the whole family', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const first = await codeFlow(config, basicApp.clientId, 'launch/patient patient/*.rs offline_access');
    const second = await oidc.refreshTokenGrant(config, first.refresh_token as string);
    expect(second.refresh_token).toBeDefined();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.patient).toBe(patientId);
    expect((await read(second.access_token)).status).toBe(200);

    // The first refresh token was rotated out: presenting it again is a replay.
    await expect(oidc.refreshTokenGrant(config, first.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    // ...which revoked the family: the newest refresh token and every access token stop working.
    await expect(oidc.refreshTokenGrant(config, second.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await read(second.access_token)).status).toBe(401);
    expect((await read(first.access_token)).status).toBe(401);
  });

  test('scope may be narrowed, never widened', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const t = await codeFlow(config, basicApp.clientId, 'launch/patient patient/*.rs offline_access');
    await expect(oidc.refreshTokenGrant(config, t.refresh_token as string, { scope: 'patient/*.rs patient/*.cruds offline_access' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
    const t2 = await codeFlow(config, basicApp.clientId, 'launch/patient patient/*.rs offline_access');
    const narrowed = await oidc.refreshTokenGrant(config, t2.refresh_token as string, { scope: 'patient/*.rs offline_access' });
    expect(narrowed.scope).toBe('patient/*.rs offline_access');
  });

  test('online_access: no refresh once the session has ended', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const t = await codeFlow(config, basicApp.clientId, 'launch/patient patient/*.rs online_access');
    expect(t.refresh_token).toBeDefined();
    // CONTEXT() names a session that does not exist (ended): the refresh fails.
    await expect(oidc.refreshTokenGrant(config, t.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('refresh fails for a disabled user and for a disabled client', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const t = await codeFlow(config, basicApp.clientId, 'patient/*.rs offline_access');
    await s.db.query('UPDATE app_user SET disabled = true WHERE id = $1', [userId]);
    try {
      await expect(oidc.refreshTokenGrant(config, t.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    } finally {
      await s.db.query('UPDATE app_user SET disabled = false WHERE id = $1', [userId]);
    }
    const t2 = await codeFlow(config, basicApp.clientId, 'patient/*.rs offline_access');
    await s.db.query('UPDATE oauth_client SET disabled = true WHERE id = $1', [basicApp.clientId]);
    try {
      await expect(oidc.refreshTokenGrant(config, t2.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_client' });
    } finally {
      await s.db.query('UPDATE oauth_client SET disabled = false WHERE id = $1', [basicApp.clientId]);
    }
  });
});

describe('revocation (RFC 7009) and introspection (RFC 7662)', () => {
  test('a revoked access token stops working at once (cached or not), and introspects inactive', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const t = await codeFlow(config, basicApp.clientId, 'launch/patient openid fhirUser patient/*.rs offline_access');
    expect((await read(t.access_token)).status).toBe(200); // now in the verified-token cache
    const info = await oidc.tokenIntrospection(config, t.access_token);
    expect(info).toMatchObject({
      active: true,
      scope: 'launch/patient openid fhirUser patient/*.rs offline_access',
      client_id: basicApp.clientId,
      sub: userId,
      iss: s.baseUrl,
      aud: s.fhirBase,
      token_type: 'Bearer',
      patient: patientId,
      fhirUser: `${s.fhirBase}/Patient/${patientId}`,
    });
    expect(typeof info.exp).toBe('number');
    expect(typeof info.iat).toBe('number');

    await oidc.tokenRevocation(config, t.access_token);
    const after = await read(t.access_token);
    expect(after.status).toBe(401);
    expect(await oidc.tokenIntrospection(config, t.access_token)).toEqual({ active: false });
    // The grant went with it: the refresh token is dead too.
    await expect(oidc.refreshTokenGrant(config, t.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('revoking a refresh token revokes its family; a public client revokes by client_id', async () => {
    const config = await discovered(publicApp, oidc.None());
    const t = await codeFlow(config, publicApp, 'launch/patient patient/*.rs offline_access');
    expect((await read(t.access_token)).status).toBe(200);
    await oidc.tokenRevocation(config, t.refresh_token as string, { token_type_hint: 'refresh_token' });
    expect((await read(t.access_token)).status).toBe(401);
    await expect(oidc.refreshTokenGrant(config, t.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('unknown tokens → 200; a public client cannot introspect', async () => {
    const res = await postForm(`${s.baseUrl}/auth/revoke`, { token: 'no-such-token', client_id: publicApp });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    await expectOAuthError(await postForm(`${s.baseUrl}/auth/introspect`, { token: 'x', client_id: publicApp }), 401, 'invalid_client');
  });

  test('introspection: garbage and expired → { active: false } only; refresh tokens; bearer with a system scope', async () => {
    const config = await discovered(jwtApp.clientId, jwtAuth());
    expect(await oidc.tokenIntrospection(config, 'garbage')).toEqual({ active: false });
    const keys = await loadSigningKeys(s.db);
    const expired = await issueAccessToken(keys, s.baseUrl, s.fhirBase, { tenant: TENANT, clientId: publicApp, scope: 'patient/*.rs', sub: userId, patient: patientId, grantId: randomUUID() }, -60);
    expect(await oidc.tokenIntrospection(config, expired)).toEqual({ active: false });
    expect((await read(expired)).status).toBe(401);

    const t = await codeFlow(config, jwtApp.clientId, 'launch/patient patient/*.rs offline_access');
    expect(await oidc.tokenIntrospection(config, t.refresh_token as string)).toMatchObject({ active: true, client_id: jwtApp.clientId, token_type: 'refresh_token' });

    const sys = await s.token('system/*.rs', TENANT);
    const res = await postForm(`${s.baseUrl}/auth/introspect`, { token: t.access_token }, { authorization: `Bearer ${sys}` });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ active: true, patient: patientId });
    // Another tenant's resource server learns nothing.
    const other = await s.token('system/*.rs', 'other-tenant');
    const res2 = await postForm(`${s.baseUrl}/auth/introspect`, { token: t.access_token }, { authorization: `Bearer ${other}` });
    expect(await res2.json()).toEqual({ active: false });
    // A person token cannot introspect.
    const res3 = await postForm(`${s.baseUrl}/auth/introspect`, { token: t.access_token }, { authorization: `Bearer ${t.access_token}` });
    await expectOAuthError(res3, 401, 'invalid_client');
  });
});

describe('audit', () => {
  test('token-issued, token-refreshed and token-revoked are recorded as AuditEvents, without tokens', async () => {
    const config = await discovered(basicApp.clientId, oidc.ClientSecretBasic(basicApp.clientSecret));
    const t = await codeFlow(config, basicApp.clientId, 'patient/*.rs offline_access');
    const t2 = await oidc.refreshTokenGrant(config, t.refresh_token as string);
    await oidc.tokenRevocation(config, t2.access_token);
    const events = await s.db.query<{ content: string }>("SELECT content FROM audit_event WHERE tenant = $1", [TENANT]);
    const text = events.rows.map((r) => r.content).join('\n');
    for (const action of ['token-issued', 'token-refreshed', 'token-revoked']) expect(text).toContain(`"${action}"`);
    for (const secret of [t.access_token, t.refresh_token as string, t2.refresh_token as string, basicApp.clientSecret]) expect(text).not.toContain(secret);
  });
});

describe('negative cases: the exact wire error', () => {
  async function code(opts: { verifier?: string; clientId?: string; expiresIn?: number; scope?: string } = {}) {
    const verifier = opts.verifier ?? newVerifier();
    const c = await mintCode(s.db, {
      tenant: TENANT,
      clientId: opts.clientId ?? publicApp,
      userId,
      redirectUri: REDIRECT,
      scope: opts.scope ?? 'launch/patient patient/*.rs offline_access',
      codeChallenge: s256(verifier),
      context: CONTEXT(),
      expiresIn: opts.expiresIn,
    });
    return { code: c, verifier };
  }
  const exchange = (p: Record<string, string>, headers?: Record<string, string>) =>
    postForm(tokenUrl, { grant_type: 'authorization_code', redirect_uri: REDIRECT, client_id: publicApp, ...p }, headers);

  test('PKCE: missing, blank, wrong and plain verifiers → invalid_grant', async () => {
    const a = await code();
    await expectOAuthError(await exchange({ code: a.code }), 400, 'invalid_grant');
    const b = await code();
    await expectOAuthError(await exchange({ code: b.code, code_verifier: '' }), 400, 'invalid_grant');
    const c = await code();
    await expectOAuthError(await exchange({ code: c.code, code_verifier: newVerifier() }), 400, 'invalid_grant');
    // "plain": the verifier sent is the challenge itself.
    const d = await code();
    await expectOAuthError(await exchange({ code: d.code, code_verifier: s256(d.verifier) }), 400, 'invalid_grant');
  });

  test('bad code, expired code, redirect mismatch, code of another client → invalid_grant', async () => {
    await expectOAuthError(await exchange({ code: 'not-a-code', code_verifier: newVerifier() }), 400, 'invalid_grant');
    const e = await code({ expiresIn: -1 });
    await expectOAuthError(await exchange({ code: e.code, code_verifier: e.verifier }), 400, 'invalid_grant');
    const r = await code();
    await expectOAuthError(await exchange({ code: r.code, code_verifier: r.verifier, redirect_uri: 'https://app.example/other' }), 400, 'invalid_grant');
    const o = await code({ clientId: jwtApp.clientId });
    await expectOAuthError(await exchange({ code: o.code, code_verifier: o.verifier }), 400, 'invalid_grant');
  });

  test('a reused code → invalid_grant, and the tokens from its first use are revoked', async () => {
    const c = await code();
    const ok = await exchange({ code: c.code, code_verifier: c.verifier });
    expect(ok.status).toBe(200);
    const tokens = (await ok.json()) as { access_token: string; refresh_token: string };
    expect((await read(tokens.access_token)).status).toBe(200);
    await expectOAuthError(await exchange({ code: c.code, code_verifier: c.verifier }), 400, 'invalid_grant');
    expect((await read(tokens.access_token)).status).toBe(401);
    await expectOAuthError(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: publicApp }), 400, 'invalid_grant');
  });

  test('bad client, bad client secret, secret in the body, confidential client without credentials → invalid_client', async () => {
    const c = await code();
    await expectOAuthError(await exchange({ code: c.code, code_verifier: c.verifier, client_id: 'no-such-client' }), 401, 'invalid_client');
    const b = await code({ clientId: basicApp.clientId });
    const wrong = await exchange({ code: b.code, code_verifier: b.verifier, client_id: basicApp.clientId }, basic(basicApp.clientId, 'wrong-secret'));
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    await expectOAuthError(wrong, 401, 'invalid_client');
    await expectOAuthError(await exchange({ code: b.code, code_verifier: b.verifier, client_id: basicApp.clientId, client_secret: basicApp.clientSecret }), 401, 'invalid_client');
    await expectOAuthError(await exchange({ code: b.code, code_verifier: b.verifier, client_id: basicApp.clientId }), 401, 'invalid_client');
    // The code survived all of that: the right credentials still redeem it.
    const ok = await exchange({ code: b.code, code_verifier: b.verifier, client_id: basicApp.clientId }, basic(basicApp.clientId, basicApp.clientSecret));
    expect(ok.status).toBe(200);
  });

  test('private_key_jwt: bad aud and a replayed assertion → invalid_client', async () => {
    const config = await discovered(jwtApp.clientId, jwtAuth(s.baseUrl));
    await expect(codeFlow(config, jwtApp.clientId, 'patient/*.rs')).rejects.toMatchObject({ error: 'invalid_client' });
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: jwtApp.kid, typ: 'JWT' })
      .setIssuer(jwtApp.clientId)
      .setSubject(jwtApp.clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setExpirationTime('2m')
      .sign(jwtApp.key);
    const form = (c: { code: string; verifier: string }) => ({
      grant_type: 'authorization_code',
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: REDIRECT,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    expect((await postForm(tokenUrl, form(await code({ clientId: jwtApp.clientId })))).status).toBe(200);
    await expectOAuthError(await postForm(tokenUrl, form(await code({ clientId: jwtApp.clientId }))), 401, 'invalid_client');
  });

  test('expired and forged access tokens are refused by the FHIR API', async () => {
    const keys = await loadSigningKeys(s.db);
    const expired = await issueAccessToken(keys, s.baseUrl, s.fhirBase, { tenant: TENANT, clientId: publicApp, scope: 'patient/*.rs', sub: userId, patient: patientId }, -5);
    expect((await read(expired)).status).toBe(401);
    // Signed by our key but for another audience (another FHIR server): refused.
    const otherAud = await issueAccessToken(keys, s.baseUrl, 'https://other.example/fhir', { tenant: TENANT, clientId: publicApp, scope: 'patient/*.rs', sub: userId, patient: patientId }, 60);
    expect((await read(otherAud)).status).toBe(401);
    const c = await code();
    const t = (await (await exchange({ code: c.code, code_verifier: c.verifier })).json()) as { access_token: string };
    const [h, p] = t.access_token.split('.');
    expect((await read(`${h}.${p}.${'A'.repeat(86)}`)).status).toBe(401);
  });

  test('a pending (unapproved) client cannot get tokens', async () => {
    const { clientId } = await registerSmartApp(s.db, { tenant: TENANT, name: 'pending', redirectUris: [REDIRECT], authMethod: 'none', scope: 'patient/*.rs', status: 'pending' });
    const c = await code({ clientId });
    await expectOAuthError(await exchange({ code: c.code, code_verifier: c.verifier, client_id: clientId }), 401, 'invalid_client');
  });

  // The origin of a registered app's redirect URI; unknown and disabled origins: test/http/cors.test.ts.
  test('CORS: the token endpoint answers a preflight and allows a registered app origin', async () => {
    const pre = await fetch(tokenUrl, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    const res = await postForm(tokenUrl, { grant_type: 'authorization_code' }, { origin: 'https://app.example' });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});
