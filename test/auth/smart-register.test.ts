import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../server/src/cli/run.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { basic, expectOAuthError, mintCode, newVerifier, postForm, s256 } from './smart-helpers.ts';

// RFC 7591 dynamic client registration at POST /auth/register: a registered client is pending
// until a tenant admin approves it (HTTP with a tenant-admin token, or the CLI).
// https://www.rfc-editor.org/rfc/rfc7591

const TENANT = 'smart-register';
const REDIRECT = 'https://app.example/cb';
let s: TestServer;
let registerUrl: string;

beforeAll(async () => {
  s = await startTestServer();
  registerUrl = `${s.baseUrl}/auth/register`;
  await s.ensureTenant(TENANT);
  await s.ensureTenant('other-clinic');
});
afterAll(async () => {
  await s?.close();
});

const register = (body: unknown, contentType = 'application/json') =>
  fetch(registerUrl, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function redeem(clientId: string, auth: { secret?: string } = {}) {
  const verifier = newVerifier();
  const code = await mintCode(s.db, { tenant: TENANT, clientId, userId: 'u-1', redirectUri: REDIRECT, scope: 'patient/*.rs', codeChallenge: s256(verifier) });
  return postForm(
    `${s.baseUrl}/auth/token`,
    { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, ...(auth.secret ? {} : { client_id: clientId }) },
    auth.secret ? basic(clientId, auth.secret) : {}
  );
}

describe('CLI', () => {
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l), openDb: async () => ({ ...s.db, close: async () => undefined }) });
    return { code, out, err };
  };

  test('client register --app: a client_secret_basic app gets its secret once, and it works', async () => {
    const r = await cli('client', 'register', '--app', '--tenant', TENANT, '--name', 'Portal', '--redirect-uri', REDIRECT, '--redirect-uri', 'https://app.example/cb2',
      '--auth-method', 'client_secret_basic', '--scope', 'openid fhirUser user/*.rs', '--launch-uri', 'https://app.example/launch');
    expect(r.code).toBe(0);
    const [clientId, secret] = r.out;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await s.db.query<{ redirect_uris: string[]; kind: string; status: string }>('SELECT redirect_uris, kind, status FROM oauth_client WHERE id = $1', [clientId]);
    expect(row.rows[0]).toMatchObject({ redirect_uris: [REDIRECT, 'https://app.example/cb2'], kind: 'smart-app', status: 'approved' });
    await expectOAuthError(await redeem(clientId, { secret }), 400, 'invalid_grant'); // authenticated; the user is unknown
    await expectOAuthError(await redeem(clientId, { secret: `${secret}x` }), 401, 'invalid_client');
  });

  test('client register --app refuses bad input with exit 1 or 2', async () => {
    expect((await cli('client', 'register', '--app', '--tenant', TENANT, '--name', 'X', '--auth-method', 'none', '--scope', 'patient/*.rs')).code).toBe(2);
    expect((await cli('client', 'register', '--app', '--tenant', TENANT, '--name', 'X', '--redirect-uri', 'https://a.example/#x', '--auth-method', 'none', '--scope', 'patient/*.rs')).code).toBe(1);
    expect((await cli('client', 'register', '--app', '--tenant', TENANT, '--name', 'X', '--redirect-uri', REDIRECT, '--auth-method', 'none', '--scope', 'system/*.rs')).code).toBe(1);
    expect((await cli('client', 'approve', '--id', 'no-such-client')).code).toBe(1);
  });

  test('keys rotate adds an ES256 access-token key, an RS256 id_token key and an ES256 note-signing key, all published', async () => {
    const before = ((await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: { kid: string }[] }).keys;
    const r = await cli('keys', 'rotate');
    expect(r.code).toBe(0);
    const after = ((await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: { kid: string; alg: string }[] }).keys;
    const added = after.filter((k) => !before.some((b) => b.kid === k.kid));
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'ES256', 'RS256']);
  });
});

describe('POST /auth/register', () => {
  test('a public app: 201, pending, unusable until approved by a tenant admin', async () => {
    const res = await register({
      client_name: 'Mood diary',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'launch/patient openid fhirUser patient/*.rs offline_access',
      launch_uri: 'https://app.example/launch',
      tenant: TENANT,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ client_name: 'Mood diary', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', status: 'pending', tenant: TENANT });
    expect(body).not.toHaveProperty('client_secret');
    const clientId = body.client_id as string;

    await expectOAuthError(await redeem(clientId), 401, 'invalid_client');

    // Approval needs a tenant admin of the same tenant.
    const approve = (token?: string) =>
      fetch(`${s.baseUrl}/auth/clients/${clientId}/approve`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await approve()).status).toBe(401);
    const clinician = await s.personToken({ tenant: TENANT, scope: 'user/*.rs', fhirUser: 'Practitioner/c', roles: ['clinician'], userId: 'c' });
    expect((await approve(clinician)).status).toBe(403);
    const otherAdmin = await s.personToken({ tenant: 'other-clinic', scope: 'user/*.rs', fhirUser: 'Practitioner/a', roles: ['tenant-admin'], userId: 'a' });
    expect((await approve(otherAdmin)).status).toBe(404);
    const admin = await s.personToken({ tenant: TENANT, scope: 'user/*.rs', fhirUser: 'Practitioner/a', roles: ['tenant-admin'], userId: 'a' });
    const ok = await approve(admin);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ client_id: clientId, status: 'approved' });
    // Approved: the token endpoint now takes its codes (this user does not exist: invalid_grant, not invalid_client).
    await expectOAuthError(await redeem(clientId), 400, 'invalid_grant');
    const audit = await s.db.query<{ content: string }>("SELECT content FROM audit_event WHERE tenant = $1", [TENANT]);
    const text = audit.rows.map((r) => r.content).join('\n');
    expect(text).toContain('"client-registered"');
    expect(text).toContain('"client-approved"');
  });

  test('a confidential symmetric app gets a secret once; CLI approval; HTTP Basic works', async () => {
    const res = await register({ client_name: 'Clinic portal', redirect_uris: [REDIRECT], scope: 'user/*.rs openid fhirUser', tenant: TENANT });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { client_id: string; client_secret: string; token_endpoint_auth_method: string; client_secret_expires_at: number };
    expect(body.token_endpoint_auth_method).toBe('client_secret_basic'); // RFC 7591 §2 default
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.client_secret_expires_at).toBe(0);
    const stored = await s.db.query<{ secret_hash: string }>('SELECT secret_hash FROM oauth_client WHERE id = $1', [body.client_id]);
    expect(stored.rows[0].secret_hash).toMatch(/^scrypt\$/);
    expect(stored.rows[0].secret_hash).not.toContain(body.client_secret);

    await expectOAuthError(await redeem(body.client_id, { secret: body.client_secret }), 401, 'invalid_client');
    const out: string[] = [];
    const code = await runCli(['client', 'approve', '--id', body.client_id], { out: (l) => out.push(l), err: () => undefined, openDb: async () => ({ ...s.db, close: async () => undefined }) });
    expect(code).toBe(0);
    await expectOAuthError(await redeem(body.client_id, { secret: body.client_secret }), 400, 'invalid_grant');
  });

  test.each([
    [{ client_name: 'x', tenant: TENANT }, 'invalid_redirect_uri'],
    [{ redirect_uris: [], tenant: TENANT }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['/relative'], tenant: TENANT }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://app.example/cb#frag'], tenant: TENANT }, 'invalid_redirect_uri'],
    [{ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post', tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], grant_types: ['client_credentials'], tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], response_types: ['token'], tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], scope: 'system/*.rs', tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'abc', kid: 'x' }] }, tenant: TENANT }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT] }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], tenant: 'no-such-tenant' }, 'invalid_client_metadata'],
    [[REDIRECT], 'invalid_client_metadata'],
  ])('%j → 400 %s', async (metadata, error) => {
    const res = await register(metadata);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error });
  });

  test('not JSON → 400 invalid_client_metadata', async () => {
    const res = await register('redirect_uris=x', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_client_metadata' });
  });
});
