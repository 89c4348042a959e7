import { type JWK, compactVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Server, createServer } from '../../server/src/app.ts';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { loadSigningKeys, rotateSigningKeys } from '../../server/src/auth/keys.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import { hashPassword } from '../../server/src/auth/users/password.ts';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { runCli } from '../../server/src/cli/run.ts';
import { loadConfig } from '../../server/src/config.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { secretBoxOf, secretContext } from '../../server/src/db/secret-box.ts';
import { formatSecretKey, loadSecretBox, newSecretKey, parseSecretKeys } from '../../server/src/db/secret-keys.ts';
import { createTenant } from '../../server/src/tenant/tenants.ts';
import { freshDatabase } from '../support/database.ts';
import { Browser, authorizeInBrowserless, pkcePair } from '../support/login.ts';

/**
 * Secrets at rest (issue 10 item 9): signing private keys and TOTP secrets are stored encrypted
 * with the server key, rows an older version left in plain text are encrypted at start, the
 * server key rotates (several keys read, the first writes, `secrets reencrypt`), and a note signed
 * before a signing-key rotation still verifies with /auth/jwks.
 *
 * The server is started the way `npm start` starts it (createServer opens the database from the
 * configuration), stopped and started again over the same database: PGlite in a folder of its own
 * (its key file generated beside it), or a fresh PostgreSQL database with SECRET_KEYS.
 */
const TENANT = 'vault';
const TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const LEGACY_TOTP = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

let dir: string;
let target: Record<string, string>;
let dropDatabase: () => Promise<void> = async () => undefined;
let port = 0;
/** The server key settings in force (changed by the rotation test). */
let keyEnv: Record<string, string> = {};
let running: { baseUrl: string; server: Server; close(): Promise<void> } | undefined;

async function boot(env: Record<string, string> = {}) {
  const httpServer = http.createServer();
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  port = (httpServer.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({ ...target, ...keyEnv, ...env, PORT: String(port), BASE_URL: baseUrl, SEED_DEMO: 'false', RISK_POLL_MS: '0', SUBSCRIPTION_POLL_MS: '0', STATISTICS_INTERVAL_MS: '0' });
  let server: Server;
  try {
    server = await createServer(config);
  } catch (err) {
    httpServer.close();
    throw err;
  }
  httpServer.on('request', server.app);
  running = {
    baseUrl,
    server,
    async close() {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await server.close();
      running = undefined;
    },
  };
  return running;
}

/** The server key entries the database was first opened with (PostgreSQL: SECRET_KEYS; PGlite: the generated file). */
function firstKeys(): string {
  return target.SECRET_KEYS ?? readFileSync(`${target.DATA_DIR}.secret-keys`, 'utf8');
}

let backend: { clientId: string; key: CryptoKey; kid: string };
let practitioner: string;
let patient: string;
let appRedirect: string;

async function backendToken(baseUrl: string, scope = 'system/*.cruds'): Promise<string> {
  const res = await requestToken({ baseUrl, clientId: backend.clientId, key: { key: backend.key, kid: backend.kid, alg: 'ES384' }, scope });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

async function fhir(baseUrl: string, token: string, path: string, init: { method?: string; json?: unknown } = {}): Promise<Response> {
  return fetch(`${baseUrl}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.json ? { 'content-type': 'application/fhir+json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
}

/** Signs in through the real pages (password + TOTP), consents, and exchanges the code for a token. */
async function signIn(baseUrl: string, username: string, totpSecret: string): Promise<string> {
  const { verifier, challenge } = pkcePair();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: 'vault-app',
    redirect_uri: appRedirect,
    scope: 'openid fhirUser user/*.cruds',
    state: randomUUID(),
    aud: `${baseUrl}/fhir/R4`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const { location } = await authorizeInBrowserless({
    baseUrl,
    authorizeUrl: `${baseUrl}/auth/authorize?${q}`,
    username,
    password: `${username}-password`,
    totpSecret,
    freshSession: true,
  });
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  const res = await fetch(`${baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'vault-app', redirect_uri: appRedirect, code, code_verifier: verifier }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`code exchange: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token as string;
}

async function storedTotp(username: string): Promise<string> {
  const r = await running!.server.db.query<{ totp_secret: string }>('SELECT totp_secret FROM app_user WHERE tenant = $1 AND username = $2', [TENANT, username]);
  return r.rows[0].totp_secret;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'secrets-at-rest-'));
  if (process.env.DATABASE_URL) {
    const t = await freshDatabase();
    await t.db.close();
    target = { DATABASE_URL: t.url!, SECRET_KEYS: t.secretKeys!, WORKERS: '1' };
    dropDatabase = t.drop;
  } else {
    target = { DATA_DIR: join(dir, 'data') };
  }
  const { baseUrl, server } = await boot();
  const db = server.db;
  await createTenant(db, { id: TENANT, name: 'Vault clinic' });
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  const { clientId } = await registerBackendClient(db, { tenant: TENANT, name: 'vault-backend', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384' }] }, scope: 'system/*.cruds' });
  backend = { clientId, key: privateKey, kid };
  const token = await backendToken(baseUrl);
  const create = async (json: Record<string, unknown>) => {
    const res = await fhir(baseUrl, token, String(json.resourceType), { method: 'POST', json });
    if (res.status !== 201) throw new Error(`${String(json.resourceType)}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  practitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Vault', given: ['Vera'] }] });
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Kept', given: ['Kim'] }] });
  await create({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${patient}` }, participant: [{ member: { reference: `Practitioner/${practitioner}` } }] });
  await createUser(db, { tenant: TENANT, username: 'vera', password: 'vera-password', roles: ['clinician'], fhirUser: `Practitioner/${practitioner}`, totpSecret: TOTP });
  appRedirect = `${baseUrl}/apps/vault/callback`;
  await db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status)
     VALUES ($1, 'vault-app', 'Vault App', 'smart-app', 'openid fhirUser user/*.cruds', 'none', $2, 'approved')`,
    [TENANT, [appRedirect]]
  );
});

afterAll(async () => {
  await running?.close();
  await dropDatabase();
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets at rest', () => {
  test('TOTP secrets and signing private keys are stored encrypted; the practitioner still signs in with her TOTP', async () => {
    const db = running!.server.db;
    const stored = await storedTotp('vera');
    expect(stored).toMatch(/^enc1\./);
    expect(stored).not.toContain(TOTP);
    const keys = await db.query<{ private_jwk: string }>('SELECT private_jwk FROM signing_key');
    expect(keys.rows.length).toBeGreaterThanOrEqual(3);
    for (const k of keys.rows) {
      expect(k.private_jwk).toMatch(/^enc1\./);
      expect(k.private_jwk).not.toContain('"d"');
    }
    const token = await signIn(running!.baseUrl, 'vera', TOTP);
    expect((await fhir(running!.baseUrl, token, `Patient/${patient}`)).status).toBe(200);
  });

  test('the enrolment secret shown during TOTP set-up is stored encrypted too', async () => {
    const db = running!.server.db;
    await createUser(db, { tenant: TENANT, username: 'newbie', password: 'newbie-password', roles: ['clinician'], fhirUser: `Practitioner/${practitioner}` });
    const browser = new Browser(running!.baseUrl);
    const page = await browser.get(`/auth/login?tenant=${TENANT}`);
    const login = await browser.submit(page.html, { username: 'newbie', password: 'newbie-password' });
    expect(login.status).toBe(303);
    const r = await db.query<{ pending_totp_secret: string }>(
      `SELECT s.pending_totp_secret FROM user_session s JOIN app_user u ON u.id = s.user_id WHERE u.username = 'newbie' AND s.stage = 'enrol'`
    );
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0].pending_totp_secret).toMatch(/^enc1\./);
  });

  test('after a restart: tokens issued before still work, new ones are signed with the same key, and plain-text rows an older version left are encrypted', async () => {
    const before = await backendToken(running!.baseUrl);
    const db = running!.server.db;
    // What a version before encryption stored: a TOTP secret and a signing key's private JWK as plain text.
    await db.query(
      `INSERT INTO app_user (tenant, id, username, password_hash, roles, fhir_user, totp_secret) VALUES ($1, $2, 'legacy', $3, $4, $5, $6)`,
      [TENANT, randomUUID(), await hashPassword('legacy-password'), ['clinician'], `Practitioner/${practitioner}`, LEGACY_TOTP]
    );
    const tokenKid = decodeProtectedHeader(before).kid as string;
    const box = secretBoxOf(db);
    const sealed = (await db.query<{ private_jwk: string }>('SELECT private_jwk FROM signing_key WHERE kid = $1', [tokenKid])).rows[0].private_jwk;
    await db.query('UPDATE signing_key SET private_jwk = $2 WHERE kid = $1', [tokenKid, box.open(sealed, secretContext('signing_key', 'private_jwk', tokenKid))]);
    expect(await storedTotp('legacy')).toBe(LEGACY_TOTP);

    await running!.close();
    const { baseUrl, server } = await boot();
    expect(await storedTotp('legacy')).toMatch(/^enc1\./);
    const plain = await server.db.query("SELECT kid FROM signing_key WHERE private_jwk NOT LIKE 'enc1.%'");
    expect(plain.rows).toEqual([]);
    expect((await fhir(baseUrl, before, `Patient/${patient}`)).status).toBe(200);
    const after = await backendToken(baseUrl);
    expect(decodeProtectedHeader(after).kid).toBe(tokenKid);
    expect((await fhir(baseUrl, after, `Patient/${patient}`)).status).toBe(200);
    const legacy = await signIn(baseUrl, 'legacy', LEGACY_TOTP);
    expect((await fhir(baseUrl, legacy, `Patient/${patient}`)).status).toBe(200);
  });

  test('server key rotation: a new first key writes, the old one still reads, `secrets reencrypt` moves every row to the new key', async () => {
    const oldKeys = parseSecretKeys(firstKeys(), 'first keys');
    const fresh = newSecretKey();
    const rotated = [formatSecretKey(fresh), ...oldKeys.map(formatSecretKey)].join(',');
    await running!.close();
    let { baseUrl, server } = await boot({ SECRET_KEYS: rotated });
    // Rows written under the old key read; a new secret is written under the new one.
    expect(await storedTotp('vera')).toMatch(new RegExp(`^enc1\\.${oldKeys[0].id}\\.`));
    expect(await storedTotp('legacy')).toMatch(new RegExp(`^enc1\\.${oldKeys[0].id}\\.`));
    const token = await signIn(baseUrl, 'legacy', LEGACY_TOTP);
    expect((await fhir(baseUrl, token, `Patient/${patient}`)).status).toBe(200);
    await createUser(server.db, { tenant: TENANT, username: 'later', password: 'later-password', roles: ['clinician'], fhirUser: `Practitioner/${practitioner}`, totpSecret: TOTP });
    expect(await storedTotp('later')).toMatch(new RegExp(`^enc1\\.${fresh.id}\\.`));
    await running!.close();

    const out: string[] = [];
    const config = loadConfig({ ...target, SECRET_KEYS: rotated });
    const code = await runCli(['secrets', 'reencrypt'], { out: (l) => out.push(l), err: (l) => out.push(l), openDb: () => openDatabase(config) });
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/app_user\.totp_secret \d+/);

    // Only the new key now: everything reads, sign-in works.
    ({ baseUrl, server } = await boot({ SECRET_KEYS: formatSecretKey(fresh) }));
    for (const table of ['signing_key', 'app_user']) {
      const column = table === 'signing_key' ? 'private_jwk' : 'totp_secret';
      const left = await server.db.query(`SELECT 1 FROM ${table} WHERE ${column} IS NOT NULL AND ${column} NOT LIKE $1`, [`enc1.${fresh.id}.%`]);
      expect(left.rows).toEqual([]);
    }
    const again = await signIn(baseUrl, 'vera', TOTP);
    expect((await fhir(baseUrl, again, `Patient/${patient}`)).status).toBe(200);
    await running!.close();

    // The old key alone no longer reads what the new one wrote: a clear refusal naming the key, no secret.
    const oldOnly = await openDatabase(loadConfig({ ...target, SECRET_KEYS: oldKeys.map(formatSecretKey).join(',') }));
    try {
      await expect(loadSigningKeys(oldOnly)).rejects.toThrow(`encrypted with server key "${fresh.id}", which is not configured`);
    } finally {
      await oldOnly.close();
    }
    keyEnv = { SECRET_KEYS: formatSecretKey(fresh) };
    await boot();
  });

  test('a note signed before a signing-key rotation still verifies with /auth/jwks after the old token keys are retired', async () => {
    let baseUrl = running!.baseUrl;
    // A user of her own: each sign-in uses up a TOTP step of that user.
    await createUser(running!.server.db, { tenant: TENANT, username: 'noter', password: 'noter-password', roles: ['clinician'], fhirUser: `Practitioner/${practitioner}`, totpSecret: TOTP });
    const token = await signIn(baseUrl, 'noter', TOTP);
    const created = await fhir(baseUrl, token, 'Composition', {
      method: 'POST',
      json: {
        resourceType: 'Composition',
        status: 'preliminary',
        type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
        subject: { reference: `Patient/${patient}` },
        date: '2026-02-03T10:00:00Z',
        author: [{ reference: `Practitioner/${practitioner}` }],
        title: 'Progress note',
      },
    });
    expect(created.status).toBe(201);
    const note = ((await created.json()) as { id: string }).id;
    const signed = await fhir(baseUrl, token, `Composition/${note}/$sign`, { method: 'POST' });
    expect(signed.status).toBe(200);
    const provenance = ((await signed.json()) as { entry: { resource: { resourceType: string; signature?: { data: string }[]; target?: { reference: string }[] } }[] }).entry
      .map((e) => e.resource)
      .find((r) => r.resourceType === 'Provenance')!;
    const jws = Buffer.from(provenance.signature![0].data, 'base64').toString('utf8');
    const kid = decodeProtectedHeader(jws).kid as string;
    const tokenKid = decodeProtectedHeader(token).kid as string;

    // Two rotations with the first set more than two hours old: the token keys in use when the
    // note was signed are retired (no longer published); the note's key is not.
    const db = running!.server.db;
    await rotateSigningKeys(db);
    await db.query("UPDATE signing_key SET created_at = created_at - interval '3 hours'");
    const { retired } = await rotateSigningKeys(db);
    expect(retired).toContain(tokenKid);
    expect(retired).not.toContain(kid);
    await running!.close();
    ({ baseUrl } = await boot());

    const jwks = (await (await fetch(`${baseUrl}/auth/jwks`)).json()) as { keys: JWK[] };
    expect(jwks.keys.some((k) => k.kid === tokenKid)).toBe(false);
    const jwk = jwks.keys.find((k) => k.kid === kid);
    expect(jwk).toBeDefined();
    const { payload } = await compactVerify(jws, await importJWK(jwk!, jwk!.alg));
    const admin = await backendToken(baseUrl);
    const version = await (await fhir(baseUrl, admin, provenance.target![0].reference)).json();
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(version);
    // New tokens are signed with the new key and work.
    const fresh = await signIn(baseUrl, 'later', TOTP);
    expect(decodeProtectedHeader(fresh).kid).not.toBe(tokenKid);
    expect((await fhir(baseUrl, fresh, `Patient/${patient}`)).status).toBe(200);
  });
});

describe('where the server key comes from', () => {
  test('embedded database: a key file is generated beside the data directory (mode 600) on first start and read afterwards', () => {
    const data = join(dir, 'another', 'data');
    rmSync(join(dir, 'another'), { recursive: true, force: true });
    const box = loadSecretBox({ databaseUrl: undefined, dataDir: data });
    const file = `${data}.secret-keys`;
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadSecretBox({ databaseUrl: undefined, dataDir: data });
    expect(again.current.id).toBe(box.current.id);
    expect(again.open(box.seal('x', 'c:1'), 'c:1')).toBe('x');
  });

  test('PostgreSQL without a configured key refuses to start, saying what to set; SECRET_KEYS_GENERATE=true with a file allows a generated key', () => {
    const pgUrl = 'postgres://example.invalid/db';
    expect(() => loadSecretBox({ databaseUrl: pgUrl, dataDir: './data' })).toThrow(/SECRET_KEYS/);
    const file = join(dir, 'pg.secret-keys');
    expect(() => loadSecretBox({ databaseUrl: pgUrl, dataDir: './data', secretKeysFile: file })).toThrow(/SECRET_KEYS_GENERATE=true/);
    expect(existsSync(file)).toBe(false);
    const box = loadSecretBox({ databaseUrl: pgUrl, dataDir: './data', secretKeysFile: file, secretKeysGenerate: true });
    expect(parseSecretKeys(readFileSync(file, 'utf8'), file)[0].id).toBe(box.current.id);
  });

  test('a ciphertext moved to another row does not decrypt', () => {
    const box = loadSecretBox({ databaseUrl: undefined, dataDir: 'memory' });
    const sealed = box.seal(TOTP, secretContext('app_user', 'totp_secret', 't', 'a'));
    expect(() => box.open(sealed, secretContext('app_user', 'totp_secret', 't', 'b'))).toThrow(/does not decrypt/);
  });
});
