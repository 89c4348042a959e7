import FHIR from 'fhirclient';
import type Client from 'fhirclient/lib/Client';

/**
 * The SMART App Launch side of every app, on `fhirclient` (https://hl7.org/fhir/smart-app-launch/):
 * EHR launch from `launch.html`, standalone launch and the redirect on `index.html`, PKCE S256
 * always, `aud` = our FHIR base. fhirclient alone holds the tokens and the rotating refresh token;
 * everything else (Medplum's client included) borrows the access token through `smartFetch`.
 *
 * All apps share one origin and therefore one sessionStorage per tab, where fhirclient keeps a
 * single "current session" pointer (SMART_KEY). Each app keeps its own pointer under
 * `bh:<app>:SMART_KEY` and restores it before fhirclient looks, so going back from one app to
 * another in the same tab never hands one app another app's token.
 */
export interface AppDefinition {
  /** The app's folder under apps/ and its client_id in the demo clinic. */
  id: string;
  /** Human name, shown in the header and the page title. */
  name: string;
  /** Scopes asked for in a standalone launch. */
  standaloneScope: string;
  /** Scopes asked for in an EHR launch (with `launch`). */
  ehrScope: string;
}

export type SmartClient = Client;

const POINTER = 'SMART_KEY';
const pointerKey = (app: AppDefinition): string => `bh:${app.id}:SMART_KEY`;

/** Our FHIR base: the apps are served by the same server, so it is this origin's /fhir/R4. */
export function fhirBase(): string {
  return `${window.location.origin}/fhir/R4`;
}

/** The app's redirect page: its own folder (registered as the client's redirect_uri). */
function redirectUri(app: AppDefinition): string {
  return `${window.location.origin}/apps/${app.id}/`;
}

/** launch.html: the EHR opened us with `iss` and `launch`; start authorization with them. */
export async function ehrLaunch(app: AppDefinition): Promise<void> {
  const q = new URLSearchParams(window.location.search);
  sessionStorage.removeItem(pointerKey(app));
  await FHIR.oauth2.authorize({
    clientId: app.id,
    scope: app.ehrScope,
    redirectUri: redirectUri(app),
    iss: q.get('iss') ?? fhirBase(),
    launch: q.get('launch') ?? undefined,
    pkceMode: 'required',
    completeInTarget: false,
  });
}

/** Standalone launch: sign in at our authorization server with the app's standalone scopes. */
export async function standaloneLaunch(app: AppDefinition): Promise<void> {
  sessionStorage.removeItem(pointerKey(app));
  sessionStorage.removeItem(POINTER);
  await FHIR.oauth2.authorize({
    clientId: app.id,
    scope: app.standaloneScope,
    redirectUri: redirectUri(app),
    iss: fhirBase(),
    pkceMode: 'required',
  });
}

/**
 * index.html: finish a redirect (`code` in the URL), resume this app's session in this tab, or
 * start a standalone launch. Resolves with a ready client, or never (the page navigates away).
 */
export async function connect(app: AppDefinition): Promise<SmartClient> {
  const q = new URLSearchParams(window.location.search);
  const redirected = q.has('code') || q.has('error');
  if (!redirected) {
    const mine = sessionStorage.getItem(pointerKey(app));
    if (mine) sessionStorage.setItem(POINTER, mine);
    else sessionStorage.removeItem(POINTER);
    if (!mine) {
      await standaloneLaunch(app);
      return new Promise<SmartClient>(() => undefined);
    }
  }
  const client = await FHIR.oauth2.ready();
  if (client.state.clientId !== app.id) {
    await standaloneLaunch(app);
    return new Promise<SmartClient>(() => undefined);
  }
  const current = sessionStorage.getItem(POINTER);
  if (current) sessionStorage.setItem(pointerKey(app), current);
  if (redirected) window.history.replaceState(null, '', window.location.pathname);
  return client;
}

/** Forget this app's session in this tab (sign out of the app; the server session is separate). */
export function forget(app: AppDefinition): void {
  const key = sessionStorage.getItem(pointerKey(app));
  if (key) sessionStorage.removeItem(JSON.parse(key) as string);
  sessionStorage.removeItem(pointerKey(app));
  sessionStorage.removeItem(POINTER);
}

export class SessionExpired extends Error {
  constructor() {
    super('Your session has ended. Sign in again to continue.');
  }
}

/**
 * fetch with the SMART access token: refreshes (through fhirclient, the one holder of the refresh
 * token) shortly before expiry and once after a 401; if that fails, throws SessionExpired so the
 * app can keep what the person typed and send them through sign-in.
 */
export function smartFetch(client: SmartClient): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  let refreshing: Promise<unknown> | undefined;
  const refresh = async (): Promise<boolean> => {
    if (!client.state.tokenResponse?.refresh_token) return false;
    refreshing ??= client.refresh().finally(() => (refreshing = undefined));
    try {
      await refreshing;
      return true;
    } catch {
      return false;
    }
  };
  const send = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${client.state.tokenResponse?.access_token ?? ''}`);
    return fetch(input, { ...init, headers });
  };
  return async (input, init) => {
    const expiresAt = client.state.expiresAt;
    if (expiresAt && expiresAt - 10 < Date.now() / 1000) await refresh();
    let res = await send(input, init);
    if (res.status === 401) {
      if (!(await refresh())) throw new SessionExpired();
      res = await send(input, init);
      if (res.status === 401) throw new SessionExpired();
    }
    return res;
  };
}
