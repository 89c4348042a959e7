import express from 'express';
import type { Config } from '../config.ts';
import type { Queryable } from '../db/database.ts';
import { html } from '../auth/pages/html.ts';
import { STYLESHEET_PATH } from '../auth/pages/layout.ts';
import { log } from '../log.ts';
import { type AppEntry, shippedApps } from '../seed/demo-users.ts';
import { DEMO_TENANT } from '../seed/demo.ts';
import { getTenant } from '../tenant/tenants.ts';

/**
 * `/`: where a person who types the server's address lands. It says what the server offers and
 * leads on: "Sign in", the SMART apps this server serves (each with what it does and who it is
 * for), and for developers the FHIR base and the discovery documents.
 *
 * Which apps: those of apps/apps.json (the apps this server serves at /apps/<id>/) whose client
 * id is registered here as an approved, enabled SMART app. An app's page starts the SMART launch
 * with its id as client_id, so an app without that registration (a server started without the
 * demo clinic) would lead to an "unknown app" error; the page lists only links that work. The
 * registration also names the clinic, which "Sign in" preselects.
 *
 * Server-rendered, no JavaScript (CSP forbids any), one h1, landmarks, the sign-in pages'
 * stylesheet (WCAG AA colours, visible focus) plus a few rules of its own.
 */
const HOME_CSS_PATH = '/static/home.css';
const HOME_CSS = `
main{max-width:44rem}
header{border-bottom:1px solid #767676;padding:.75rem 1rem}
header p{max-width:44rem;margin:0 auto;font-weight:600}
h1{font-size:1.75rem;margin-bottom:.5rem}
h2{font-size:1.25rem;margin-top:2rem}
.lead{font-size:1.1rem}
a.button{display:inline-block;padding:.5rem 1rem;color:#fff;background:#0b4f8a;border:2px solid #0b4f8a;border-radius:4px;text-decoration:none;font-weight:600}
a.button:hover{text-decoration:underline}
ul.apps{list-style:none;padding:0;margin:0}
ul.apps li{border:1px solid #767676;border-radius:4px;padding:.75rem 1rem;margin:.75rem 0}
ul.apps a{font-size:1.15rem;font-weight:600}
ul.apps p{margin:.25rem 0}
.who{color:#444}
.note{border-left:4px solid #0b4f8a;padding-left:.75rem}
`;

/** Who an app is for, in words (apps.json `audience` holds FHIR user types). */
const AUDIENCE: Record<string, string> = {
  patient: 'patients',
  'related-person': 'parents and guardians',
  practitioner: 'clinicians',
};

interface ListedApp extends AppEntry {
  audience?: string[];
}

/** A plain mark for the browser tab (our blue, a white cross of care). */
const ICON_PATH = '/favicon.svg';
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b4f8a"/><path d="M13 6h6v7h7v6h-7v7h-6v-7H6v-6h7z" fill="#fff"/></svg>`;

export function homeRouter(deps: { db: Queryable; config: Config }): express.Router {
  const router = express.Router();
  router.get(ICON_PATH, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400');
    res.type('image/svg+xml').send(ICON);
  });
  // Browsers ask for /favicon.ico on every page that names no icon (the apps too): "no icon", not an error.
  router.get('/favicon.ico', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400');
    res.status(204).end();
  });
  router.get(HOME_CSS_PATH, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600');
    res.type('text/css').send(HOME_CSS);
  });
  router.get('/', (_req, res) => {
    res.set('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
    // No PHI here, but the list follows registrations: revalidate every time.
    res.set('Cache-Control', 'no-cache');
    registeredApps(deps.db).then(
      async ({ apps, tenant }) => {
        const signInTenant = tenant ?? deps.config.defaultTenant;
        const clinic = signInTenant ? await getTenant(deps.db, signInTenant) : undefined;
        res.type('html').send(page({ apps, tenant: clinic ? signInTenant : undefined, clinicName: clinic?.name, fhirBase: `${deps.config.baseUrl}/fhir/R4` }).value);
      },
      (err: unknown) => {
        log.error('home page: could not read the registered apps', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
        res.status(503).type('html').send(page({ apps: undefined, fhirBase: `${deps.config.baseUrl}/fhir/R4` }).value);
      }
    );
  });
  return router;
}

/** The shipped apps registered here, in apps.json order, and the one clinic they belong to (if one). */
async function registeredApps(db: Queryable): Promise<{ apps: ListedApp[]; tenant: string | undefined }> {
  const shipped = shippedApps() as ListedApp[];
  const r = await db.query<{ id: string; tenant: string }>(
    `SELECT id, tenant FROM oauth_client WHERE id = ANY($1) AND kind = 'smart-app' AND status = 'approved' AND NOT disabled`,
    [shipped.map((a) => a.id)]
  );
  const registered = new Map(r.rows.map((row) => [row.id, row.tenant]));
  const tenants = new Set(registered.values());
  return { apps: shipped.filter((a) => registered.has(a.id)), tenant: tenants.size === 1 ? [...tenants][0] : undefined };
}

function audienceWords(audience: string[] | undefined): string {
  const words = (audience ?? []).map((a) => AUDIENCE[a]).filter(Boolean);
  if (words.length === 0) return 'everyone with an account';
  if (words.length === 1) return words[0];
  if (words.length === 2) return `${words[0]} and ${words[1]}`;
  return `${words.slice(0, -1).join(', ')}, and ${words[words.length - 1]}`;
}

function page(o: { apps: ListedApp[] | undefined; tenant?: string; clinicName?: string; fhirBase: string }) {
  const signIn = o.tenant ? `/auth/login?tenant=${encodeURIComponent(o.tenant)}` : '/auth/login';
  const fhirPath = new URL(o.fhirBase).pathname;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Behavioral-health FHIR platform</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="stylesheet" href="${HOME_CSS_PATH}">
<link rel="icon" href="${ICON_PATH}" type="image/svg+xml">
</head>
<body>
<header><p>Behavioral-health FHIR platform</p></header>
<main data-page="home">
<h1>Care tools for ${o.clinicName ?? 'your clinic'}</h1>
<p class="lead">Questionnaires, session notes, outcomes and a clinician's worklist, on a FHIR R4 server.
Open an app below: it asks you to sign in with your clinic account.</p>
<p><a class="button" href="${signIn}">Sign in</a></p>
${o.tenant === DEMO_TENANT
  ? html`<p class="note">This server runs the demo clinic. Its demo sign-ins are public (the README lists them under "Demo logins"), so never enter real patient data here.</p>`
  : ''}
<section aria-labelledby="apps-heading">
<h2 id="apps-heading">Apps</h2>
${o.apps === undefined
  ? html`<p role="alert">The list of apps cannot be shown right now. Try again in a moment.</p>`
  : o.apps.length === 0
    ? html`<p>No apps are registered on this server yet. An administrator registers them (see the README, "SMART apps and people").</p>`
    : html`<ul class="apps">
${o.apps.map(
  (a) => html`<li>
<a href="/apps/${encodeURIComponent(a.id)}/">${a.name}</a>
<p>${a.description}</p>
<p class="who">For ${audienceWords(a.audience)}.</p>
</li>
`
)}</ul>`}
</section>
<section aria-labelledby="dev-heading">
<h2 id="dev-heading">For developers</h2>
<p>FHIR base: <code>${o.fhirBase}</code>. Every request needs a SMART bearer token except the two documents below.</p>
<ul>
<li><a href="${fhirPath}/metadata">CapabilityStatement</a> (<code>${fhirPath}/metadata</code>)</li>
<li><a href="${fhirPath}/.well-known/smart-configuration">SMART configuration</a> (<code>${fhirPath}/.well-known/smart-configuration</code>)</li>
</ul>
</section>
</main>
</body>
</html>
`;
}
