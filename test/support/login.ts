import { createHash, randomBytes } from 'node:crypto';
import { totpNow } from '../../server/src/auth/users/totp.ts';

/**
 * A browser without JavaScript, in code: follows /auth/authorize with a cookie jar over fetch,
 * fills the login, second-factor (or TOTP enrolment), patient-picker and consent forms the
 * server renders (CSRF tokens included), and returns the final redirect to the client's
 * redirect_uri (with code and state, or with error).
 *
 * Sessions are kept per (baseUrl, username) like a real browser keeps its cookie: a second call
 * for the same user reuses the logged-in session (so a practitioner's TOTP step is not replayed).
 * Pass `freshSession: true` to start with an empty cookie jar.
 */
export interface AuthorizeInBrowserlessOptions {
  baseUrl: string;
  authorizeUrl: string;
  username: string;
  password: string;
  totpSecret?: string;
  /** Approve (default) or deny on the consent screen. */
  approve?: boolean;
  /** Patient id to pick on the patient picker. */
  pickPatient?: string;
  /** Start without the cookies of earlier calls for this user. */
  freshSession?: boolean;
}

export async function authorizeInBrowserless(opts: AuthorizeInBrowserlessOptions): Promise<{ location: string }> {
  const jarKey = `${opts.baseUrl} ${opts.username}`;
  if (opts.freshSession || !jars.has(jarKey)) jars.set(jarKey, new CookieJar());
  const jar = jars.get(jarKey)!;
  const base = new URL(opts.baseUrl);
  let totpTries = 0;
  let next: { url: string; method: 'GET' | 'POST'; body?: URLSearchParams } = { url: opts.authorizeUrl, method: 'GET' };
  for (let hop = 0; hop < 30; hop++) {
    const url = new URL(next.url, opts.baseUrl);
    const headers = new Headers({ accept: 'text/html' });
    const cookie = jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    if (next.body) headers.set('content-type', 'application/x-www-form-urlencoded');
    const res = await fetch(url, { method: next.method, headers, body: next.body?.toString(), redirect: 'manual' });
    jar.store(url, res.headers.getSetCookie());
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get('location') ?? '', url).toString();
      const target = new URL(location);
      // Anything outside our own /auth pages is the client's redirect_uri: done.
      if (target.origin !== base.origin || !target.pathname.startsWith('/auth/')) return { location };
      next = { url: location, method: 'GET' };
      continue;
    }
    const html = await res.text();
    const page = /data-page="([a-z-]+)"/.exec(html)?.[1];
    const form = parseForm(html);
    switch (page) {
      case 'login':
        form.fields.set('username', opts.username);
        form.fields.set('password', opts.password);
        break;
      case 'second-factor': {
        if (!opts.totpSecret) throw new Error(`${opts.username} needs a second factor but no totpSecret was given`);
        // A code is single use (no replay of a step): if this step was used already, try the
        // next one (accepted within ±1 step), then wait for a fresh step.
        if (totpTries === 2) await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 200));
        if (totpTries > 2) throw new Error(`second factor refused: ${alertText(html)}`);
        form.fields.set('code', totp(opts.totpSecret, Date.now() + (totpTries === 1 ? 30_000 : 0)));
        totpTries++;
        break;
      }
      case 'totp-enrol': {
        const secret = /data-totp-secret[^>]*>([A-Z2-7]+)</.exec(html)?.[1];
        if (!secret) throw new Error('TOTP enrolment page without a secret');
        form.fields.set('code', totp(secret));
        break;
      }
      case 'recovery-codes':
        break;
      case 'pick-patient':
        if (opts.pickPatient === undefined) throw new Error('the server asks to pick a patient but no pickPatient was given');
        form.fields.set('patient', opts.pickPatient);
        break;
      case 'consent':
        form.fields.set('decision', opts.approve === false ? 'deny' : 'approve');
        break;
      default:
        throw new Error(`unexpected page (${res.status}, ${page ?? 'unknown'}): ${alertText(html) || html.slice(0, 300)}`);
    }
    if (res.status >= 400 && page !== 'login' && page !== 'second-factor') {
      throw new Error(`${page} page answered ${res.status}: ${alertText(html)}`);
    }
    if (page === 'login' && res.status >= 400 && /role="alert"/.test(html) && hop > 0 && next.method === 'POST') {
      throw new Error(`login refused: ${alertText(html)}`);
    }
    next = { url: new URL(form.action, url).toString(), method: 'POST', body: new URLSearchParams([...form.fields]) };
  }
  throw new Error('too many steps following /authorize');
}

/** RFC 6238 TOTP of a base32 secret at timeMs (default now): the server's own, checked against
 * the RFC's test vectors in test/auth/login.test.ts. */
export function totp(secret: string, timeMs: number = Date.now()): string {
  return totpNow(secret, timeMs);
}

const jars = new Map<string, CookieJar>();

/** Just enough of RFC 6265 for one host: name=value, Path, Max-Age=0 / past Expires deletes. */
export class CookieJar {
  private cookies = new Map<string, { value: string; path: string }>();
  store(_url: URL, setCookies: string[]): void {
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v = ''] = a.trim().split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }
  header(url: URL): string {
    return [...this.cookies]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([n, c]) => `${n}=${c.value}`)
      .join('; ');
  }
}

/** The first POST form of a page: its action and its named inputs (hidden ones keep their value). */
export function parseForm(html: string): { action: string; fields: Map<string, string> } {
  const m = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].find((f) => /method="post"/i.test(f[1]));
  if (!m) return { action: '', fields: new Map() };
  const action = unescapeHtml(/action="([^"]*)"/.exec(m[1])?.[1] ?? '');
  const fields = new Map<string, string>();
  for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = /\bname="([^"]*)"/.exec(input[1])?.[1];
    const type = /\btype="([^"]*)"/.exec(input[1])?.[1] ?? 'text';
    if (!name || type === 'radio' || type === 'checkbox') continue;
    fields.set(unescapeHtml(name), unescapeHtml(/\bvalue="([^"]*)"/.exec(input[1])?.[1] ?? ''));
  }
  return { action, fields };
}

function alertText(html: string): string {
  const m = /role="alert"[^>]*>([\s\S]*?)<\/(?:p|div)>/.exec(html);
  return m ? unescapeHtml(m[1].replace(/<[^>]+>/g, '')).trim() : '';
}

function unescapeHtml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** A PKCE pair (RFC 7636): a random verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * A cookie-keeping fetch for tests that drive the pages by hand: `get`/`post` never follow
 * redirects; `form(html)` reads the page's first POST form (with its CSRF token).
 */
export class Browser {
  readonly jar = new CookieJar();
  readonly baseUrl: string;
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }
  async get(path: string): Promise<{ status: number; location: string | null; html: string; headers: Headers }> {
    return this.send(path, 'GET');
  }
  async post(path: string, fields: Record<string, string> | Map<string, string>): Promise<{ status: number; location: string | null; html: string; headers: Headers }> {
    return this.send(path, 'POST', new URLSearchParams(fields instanceof Map ? [...fields] : Object.entries(fields)));
  }
  /** Submits the first POST form of `html` with its fields overridden by `fill`. */
  async submit(html: string, fill: Record<string, string> = {}) {
    const form = parseForm(html);
    for (const [k, v] of Object.entries(fill)) form.fields.set(k, v);
    return this.post(form.action, form.fields);
  }
  private async send(path: string, method: string, body?: URLSearchParams) {
    const url = new URL(path, this.baseUrl);
    const headers = new Headers({ accept: 'text/html' });
    const cookie = this.jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    if (body) headers.set('content-type', 'application/x-www-form-urlencoded');
    const res = await fetch(url, { method, headers, body: body?.toString(), redirect: 'manual' });
    this.jar.store(url, res.headers.getSetCookie());
    return { status: res.status, location: res.headers.get('location'), html: await res.text(), headers: res.headers };
  }
}

/**
 * A small clinic for login and authorize tests in `tenant` (default 'people'): two patients
 * (one with a guardian), a practitioner, users for each kind, and a public SMART app.
 * Passwords are the username followed by '-password-1'.
 */
export interface People {
  tenant: string;
  clientId: string;
  redirectUri: string;
  launchUri: string;
  patientA: string;
  patientB: string;
  practitioner: string;
  relatedPerson: string;
  /** TOTP secret of the enrolled clinician. */
  totpSecret: string;
  users: { clinician: string; newClinician: string; patient: string; guardian: string };
  /** An /authorize URL for the app with PKCE; `params` override or add (undefined removes). */
  authorizeUrl(params?: Record<string, string | undefined>): string;
}

export async function seedPeople(
  server: { baseUrl: string; fhirBase: string; db: import('../../server/src/db/database.ts').Database; ensureTenant(t: string): Promise<void>; token(scope?: string, tenant?: string): Promise<string>; fhir(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response> },
  tenant = 'people'
): Promise<People> {
  const { createUser } = await import('../../server/src/auth/users/index.ts');
  await server.ensureTenant(tenant);
  const token = await server.token('system/*.cruds', tenant);
  const create = async (json: Record<string, unknown>) => {
    const res = await server.fhir(String(json.resourceType), { method: 'POST', token, json });
    if (res.status !== 201) throw new Error(`create ${String(json.resourceType)}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const patientA = await create({ resourceType: 'Patient', name: [{ family: 'Andersson', given: ['Alva'] }], birthDate: '1980-02-03' });
  const patientB = await create({ resourceType: 'Patient', name: [{ family: 'Berg', given: ['Bo'] }], birthDate: '2012-05-06' });
  const practitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Carlsson', given: ['Cecilia'] }] });
  const relatedPerson = await create({ resourceType: 'RelatedPerson', patient: { reference: `Patient/${patientB}` }, name: [{ family: 'Berg', given: ['Britt'] }] });
  // The practitioner treats both patients (the patient picker offers only patients she reaches).
  for (const p of [patientA, patientB]) {
    await create({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${p}` }, participant: [{ member: { reference: `Practitioner/${practitioner}` } }] });
  }
  const totpSecret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
  const pw = (u: string) => `${u}-password-1`;
  const users = { clinician: `clin-${tenant}`, newClinician: `newclin-${tenant}`, patient: `pat-${tenant}`, guardian: `guard-${tenant}` };
  await createUser(server.db, { tenant, username: users.clinician, password: pw(users.clinician), roles: ['clinician'], fhirUser: `Practitioner/${practitioner}`, totpSecret });
  await createUser(server.db, { tenant, username: users.newClinician, password: pw(users.newClinician), roles: ['clinician', 'supervisor'], fhirUser: `Practitioner/${practitioner}` });
  await createUser(server.db, { tenant, username: users.patient, password: pw(users.patient), roles: ['patient'], fhirUser: `Patient/${patientA}` });
  await createUser(server.db, { tenant, username: users.guardian, password: pw(users.guardian), roles: ['related-person'], fhirUser: `RelatedPerson/${relatedPerson}` });
  const clientId = `app-${tenant}`;
  const redirectUri = `${server.baseUrl}/apps/test/callback`;
  const launchUri = `${server.baseUrl}/apps/test/launch`;
  await server.db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status, launch_uri)
     VALUES ($1, $2, 'Test App', 'smart-app', $3, 'none', $4, 'approved', $5)`,
    [tenant, clientId, 'openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.rs user/*.cruds', [redirectUri], launchUri]
  );
  const fhirBase = server.fhirBase;
  return {
    tenant,
    clientId,
    redirectUri,
    launchUri,
    patientA,
    patientB,
    practitioner,
    relatedPerson,
    totpSecret,
    users,
    authorizeUrl(params = {}) {
      const q: Record<string, string | undefined> = {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: 'openid fhirUser launch/patient patient/*.rs',
        state: randomBytes(8).toString('hex'),
        aud: fhirBase,
        code_challenge: pkcePair().challenge,
        code_challenge_method: 'S256',
        ...params,
      };
      const url = new URL(`${server.baseUrl}/auth/authorize`);
      for (const [k, v] of Object.entries(q)) if (v !== undefined) url.searchParams.set(k, v);
      return url.toString();
    },
  };
}

export const passwordOf = (username: string): string => `${username}-password-1`;
