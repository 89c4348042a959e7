import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../server/src/auth/users/index.ts';
import { isSessionActive } from '../../server/src/auth/session/index.ts';
import { shareSecretBox } from '../../server/src/db/secret-box.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { Browser, type People, authorizeInBrowserless, passwordOf, seedPeople, totp } from '../support/login.ts';

/**
 * Login, second factor, lockout, sessions (idle timeout, logout) and CSRF, through real HTTP.
 */
let server: TestServer;
let people: People;

beforeAll(async () => {
  server = await startTestServer();
  people = await seedPeople(server);
}, 60_000);
afterAll(async () => server?.close());

/** Logs in on /auth/login (no authorization request) and returns the browser and last response. */
async function login(username: string, password: string, b = new Browser(server.baseUrl)) {
  const page = await b.get(`/auth/login?tenant=${people.tenant}`);
  const r = await b.submit(page.html, { username, password });
  return { b, r };
}

async function sessionIdOf(username: string): Promise<string> {
  const { rows } = await server.db.query<{ id: string }>(
    `SELECT s.id FROM user_session s JOIN app_user u ON u.id = s.user_id WHERE u.username = $1 AND s.ended_at IS NULL ORDER BY s.created_at DESC LIMIT 1`,
    [username]
  );
  return rows[0].id;
}

async function newPatientUser(username: string) {
  await createUser(server.db, { tenant: people.tenant, username, password: passwordOf(username), roles: ['patient'], fhirUser: `Patient/${people.patientA}` });
}

describe('login page', () => {
  it('sets a pre-session cookie HttpOnly, SameSite=Lax, Path=/auth, and a strict CSP', async () => {
    const res = await fetch(`${server.baseUrl}/auth/login?tenant=${people.tenant}`);
    const cookie = res.headers.getSetCookie()[0];
    expect(cookie).toMatch(/^smart_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Path=/auth');
    expect(cookie).not.toContain('Secure'); // BASE_URL is http in tests
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script|style=/);
  });

  it('refuses a POST without the CSRF token, or with another browser’s', async () => {
    const b = new Browser(server.baseUrl);
    await b.get(`/auth/login?tenant=${people.tenant}`);
    const r = await b.post('/auth/login', { tenant: people.tenant, username: people.users.patient, password: passwordOf(people.users.patient) });
    expect(r.status).toBe(403);
    expect(r.html).toContain('role="alert"');
    const other = new Browser(server.baseUrl);
    const page = await other.get(`/auth/login?tenant=${people.tenant}`);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.html)![1];
    const r2 = await b.post('/auth/login', { _csrf: token, tenant: people.tenant, username: people.users.patient, password: passwordOf(people.users.patient) });
    expect(r2.status).toBe(403);
  });

  it('a wrong password shows an announced error tied to the inputs', async () => {
    const { r } = await login(people.users.patient, 'wrong-password');
    expect(r.status).toBe(401);
    expect(r.html).toMatch(/<p id="form-error" class="error" role="alert">The username or password is incorrect.<\/p>/);
    expect(r.html).toMatch(/id="password"[^>]*aria-describedby="form-error"/);
    // An unknown user gets the same answer.
    const { r: r2 } = await login('nobody-here', 'wrong-password');
    expect(r2.status).toBe(401);
    expect(r2.html).toContain('The username or password is incorrect.');
  });

  it('a patient logs in with a password only; the session cookie changes at login', async () => {
    const b = new Browser(server.baseUrl);
    const page = await b.get(`/auth/login?tenant=${people.tenant}`);
    const before = b.jar.header(new URL(`${server.baseUrl}/auth/`));
    const r = await b.submit(page.html, { username: people.users.patient, password: passwordOf(people.users.patient) });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/auth/');
    expect(b.jar.header(new URL(`${server.baseUrl}/auth/`))).not.toBe(before);
    const home = await b.get('/auth/');
    expect(home.html).toContain('data-page="home"');
  });
});

describe('second factor', () => {
  it('practitioners must pass TOTP; a used code cannot be replayed', async () => {
    await createUser(server.db, { tenant: people.tenant, username: 'replay', password: passwordOf('replay'), roles: ['clinician'], fhirUser: `Practitioner/${people.practitioner}`, totpSecret: people.totpSecret });
    const { b, r } = await login('replay', passwordOf('replay'));
    expect(r.location).toBe('/auth/second-factor');
    // Not active before the second factor.
    expect((await b.get('/auth/')).location).toBe('/auth/second-factor');
    let page = await b.get('/auth/second-factor');
    const wrong = await b.submit(page.html, { code: '000000' === totp(people.totpSecret) ? '111111' : '000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('role="alert"');
    const code = totp(people.totpSecret);
    const ok = await b.submit(wrong.html, { code });
    expect(ok.status).toBe(303);
    // Same code in another browser: refused (RFC 6238 §5.2).
    const second = await login('replay', passwordOf('replay'));
    page = await second.b.get('/auth/second-factor');
    const replay = await second.b.submit(page.html, { code });
    expect(replay.status).toBe(401);
  });

  it('a recovery code works once', async () => {
    const b = new Browser(server.baseUrl);
    let r = await b.get(`/auth/login?tenant=${people.tenant}`);
    await createUser(server.db, { tenant: people.tenant, username: 'enrol-me', password: passwordOf('enrol-me'), roles: ['front-desk'], fhirUser: `Practitioner/${people.practitioner}` });
    r = await b.submit(r.html, { username: 'enrol-me', password: passwordOf('enrol-me') });
    expect(r.location).toBe('/auth/totp/enrol');
    r = await b.get(r.location!);
    expect(r.html).toMatch(/otpauth:\/\/totp\/[^"]*secret=[A-Z2-7]+/);
    const secret = /data-totp-secret[^>]*>([A-Z2-7]+)</.exec(r.html)![1];
    r = await b.submit(r.html, { code: totp(secret) });
    const codes = [...r.html.matchAll(/<li>([A-Z2-7]{5}-[A-Z2-7]{5})<\/li>/g)].map((m) => m[1]);
    expect(codes).toHaveLength(10);
    const { rows } = await server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM user_recovery_code c JOIN app_user u ON u.id = c.user_id WHERE u.username = 'enrol-me'`);
    expect(rows[0].n).toBe(10);
    // Not stored in the clear.
    const stored = await server.db.query<{ code_hash: string }>('SELECT code_hash FROM user_recovery_code');
    expect(stored.rows.map((x) => x.code_hash)).not.toContain(codes[0]);

    for (const expected of [303, 401]) {
      const again = await login('enrol-me', passwordOf('enrol-me'));
      const page = await again.b.get('/auth/recovery');
      const res = await again.b.submit(page.html, { code: codes[0] });
      expect(res.status).toBe(expected);
    }
  });
});

describe('lockout', () => {
  it('5 consecutive failures lock the account for 15 minutes, even with the right password', async () => {
    await newPatientUser('lock-me');
    for (let i = 0; i < 5; i++) {
      const { r } = await login('lock-me', 'wrong-password');
      expect(r.status).toBe(401);
    }
    const { r } = await login('lock-me', passwordOf('lock-me'));
    expect(r.status).toBe(403);
    expect(r.html).toContain('locked');
    const { rows } = await server.db.query<{ minutes: number }>(`SELECT round(extract(epoch FROM locked_until - now()) / 60)::int AS minutes FROM app_user WHERE username = 'lock-me'`);
    expect(rows[0].minutes).toBe(15);
    // When the lock has passed, the right password works again.
    await server.db.query(`UPDATE app_user SET locked_until = now() - interval '1 second' WHERE username = 'lock-me'`);
    expect((await login('lock-me', passwordOf('lock-me'))).r.status).toBe(303);
  });

  it('wrong passwords answer exactly like an unknown username, before, at and after the lockout', async () => {
    await newPatientUser('probe-me');
    const answer = async (username: string) => {
      const { r } = await login(username, 'wrong-password');
      return { status: r.status, error: /<p id="form-error"[^>]*>([^<]*)<\/p>/.exec(r.html)?.[1] };
    };
    const unknown = await answer('probe-me-not');
    expect(unknown).toEqual({ status: 401, error: 'The username or password is incorrect.' });
    for (let i = 0; i < 7; i++) expect(await answer('probe-me')).toEqual(unknown);
    // The account is locked: only the right password says so.
    expect((await login('probe-me', passwordOf('probe-me'))).r.status).toBe(403);
  });

  it('a failed login never records what was typed as an unknown username (often a password)', async () => {
    const typed = 'Tr0ub4dor&3-typed-in-the-wrong-box';
    expect((await login(typed, 'anything at all')).r.status).toBe(401);
    const { rows } = await server.db.query<{ n: number; mine: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE content::text LIKE '%' || $2 || '%')::int AS mine FROM audit_event WHERE tenant = $1`,
      [people.tenant, 'Tr0ub4dor']
    );
    expect(rows[0].n).toBeGreaterThan(0);
    expect(rows[0].mine).toBe(0);
  });

  it('a success resets the count', async () => {
    await newPatientUser('reset-me');
    for (let i = 0; i < 4; i++) await login('reset-me', 'wrong-password');
    expect((await login('reset-me', passwordOf('reset-me'))).r.status).toBe(303);
    for (let i = 0; i < 4; i++) expect((await login('reset-me', 'wrong-password')).r.status).toBe(401);
  });
});

describe('sessions', () => {
  it('end after the idle timeout', async () => {
    await newPatientUser('idle');
    const { b } = await login('idle', passwordOf('idle'));
    const id = await sessionIdOf('idle');
    expect(await isSessionActive(server.db, id)).toBe(true);
    await server.db.query(`UPDATE user_session SET last_seen_at = now() - interval '16 minutes' WHERE id = $1`, [id]);
    expect(await isSessionActive(server.db, id)).toBe(false);
    const r = await b.get('/auth/');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/auth/login');
  });

  it('end after the absolute lifetime, however active', async () => {
    await newPatientUser('absolute');
    const { b } = await login('absolute', passwordOf('absolute'));
    const id = await sessionIdOf('absolute');
    await server.db.query(`UPDATE user_session SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expect((await b.get('/auth/')).location).toBe('/auth/login');
    expect(await isSessionActive(server.db, id)).toBe(false);
  });

  it('logout is a POST with the CSRF token and ends the session', async () => {
    await newPatientUser('leaver');
    const { b } = await login('leaver', passwordOf('leaver'));
    const id = await sessionIdOf('leaver');
    const home = await b.get('/auth/');
    expect((await b.post('/auth/logout', {})).status).toBe(403);
    expect(await isSessionActive(server.db, id)).toBe(true);
    const r = await b.submit(home.html);
    expect(r.status).toBe(200);
    expect(r.html).toContain('data-page="logged-out"');
    expect(await isSessionActive(server.db, id)).toBe(false);
    expect((await b.get('/auth/')).location).toBe('/auth/login');
  });

  it('after logout, /authorize asks to log in again', async () => {
    const opts = { baseUrl: server.baseUrl, username: people.users.guardian, password: passwordOf(people.users.guardian), pickPatient: people.patientB };
    await authorizeInBrowserless({ ...opts, authorizeUrl: people.authorizeUrl() });
    const id = await sessionIdOf(people.users.guardian);
    await server.db.query('UPDATE user_session SET ended_at = now() WHERE id = $1', [id]);
    const b = new Browser(server.baseUrl);
    const r = await b.get(people.authorizeUrl());
    const next = await b.get(r.location!);
    expect(next.location).toMatch(/^\/auth\/login\?request=/);
  });
});

describe('TOTP (RFC 6238) and password hashing', () => {
  it('matches the RFC 6238 appendix B SHA-1 vectors (last 6 digits)', async () => {
    const { base32Encode, totpAt, matchingStep } = await import('../../server/src/auth/users/totp.ts');
    const secret = base32Encode(Buffer.from('12345678901234567890'));
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [t, code] of vectors) expect(totpAt(secret, Math.floor(t / 30))).toBe(code.slice(2));
    // ±1 step accepted, 2 steps away refused.
    const at = 1111111109 * 1000;
    expect(matchingStep(secret, totpAt(secret, Math.floor(1111111109 / 30) - 1), at)).toBeDefined();
    expect(matchingStep(secret, totpAt(secret, Math.floor(1111111109 / 30) + 2), at)).toBeUndefined();
    // The test helper agrees with the server.
    expect(totp(secret, 59_000)).toBe('287082');
  });

  it('passwords are stored as salted scrypt hashes', async () => {
    const { rows } = await server.db.query<{ password_hash: string }>('SELECT password_hash FROM app_user WHERE username = $1', [people.users.patient]);
    expect(rows[0].password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(rows[0].password_hash).not.toContain(passwordOf(people.users.patient));
  });
});

describe('CLI user commands', () => {
  it('user create / list / unlock / reset-mfa and totp', async () => {
    const { runCli } = await import('../../server/src/cli/run.ts');
    const db = server.db;
    const io = {
      lines: [] as string[],
      out(line: string) {
        this.lines.push(line);
      },
      err(line: string) {
        this.lines.push(line);
      },
      // The CLI closes its database when done; the test server keeps using this one.
      // (With the database's server key: the CLI stores TOTP secrets encrypted.)
      openDb: async () => {
        const kept = { ...db, kind: db.kind, query: db.query.bind(db), transaction: db.transaction.bind(db), close: async () => undefined };
        shareSecretBox(db, kept);
        return kept;
      },
    };
    const run = async (...argv: string[]) => {
      const rc = await runCli(argv, io);
      if (rc !== 0) console.log('cli', argv.slice(0, 2).join(' '), rc, io.lines.join(' / '));
      return rc;
    };
    expect(await run('user', 'create', '--tenant', people.tenant, '--username', 'cli-user', '--password', passwordOf('cli-user'), '--role', 'clinician,supervisor', '--fhir-user', `Practitioner/${people.practitioner}`, '--totp-secret', people.totpSecret)).toBe(0);
    expect(await run('user', 'create', '--tenant', people.tenant, '--username', 'cli-bad', '--password', passwordOf('cli-bad'), '--role', 'patient', '--fhir-user', `Practitioner/${people.practitioner}`)).toBe(1);
    io.lines = [];
    expect(await run('user', 'list', '--tenant', people.tenant)).toBe(0);
    expect(io.lines.join('\n')).toMatch(/cli-user {2}clinician,supervisor {2}Practitioner\/\S+ {2}totp/);
    await server.db.query(`UPDATE app_user SET locked_until = now() + interval '10 minutes' WHERE username = 'cli-user'`);
    expect((await login('cli-user', passwordOf('cli-user'))).r.status).toBe(403);
    expect(await run('user', 'unlock', '--tenant', people.tenant, '--username', 'cli-user')).toBe(0);
    expect(await run('user', 'reset-mfa', '--tenant', people.tenant, '--username', 'cli-user')).toBe(0);
    expect((await login('cli-user', passwordOf('cli-user'))).r.location).toBe('/auth/totp/enrol');
    io.lines = [];
    expect(await run('totp', '--secret', people.totpSecret)).toBe(0);
    expect(io.lines).toEqual([totp(people.totpSecret)]);
  });
});
