import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/database.ts';
import { log } from '../log.ts';

/**
 * CORS (https://fetch.spec.whatwg.org/#http-cors-protocol) for browser SMART apps served from
 * another origin than this server: the FHIR API and the token, introspection and revocation
 * endpoints answer with `Access-Control-Allow-Origin` only for the origins of registered apps,
 * i.e. the origins of the redirect URIs and launch URL of every approved, enabled SMART app
 * client (table oauth_client). A browser app at any other origin cannot read our answers, so a
 * bearer token stolen into a foreign page is of no use there, and an unregistered app learns
 * nothing even by error messages. A disallowed origin simply gets no CORS headers: the request
 * is otherwise handled as it would be without an Origin (curl and servers are not browsers).
 *
 * The origins are the same for every tenant: a preflight carries no token, so the tenant of the
 * caller is unknown when the decision is made; the token then decides what the app may see.
 * No credentials (`Access-Control-Allow-Credentials` is never sent): apps send bearer tokens,
 * never cookies, so a browser never attaches the sign-in cookie of /auth to these requests.
 *
 * Discovery (`/fhir/R4/metadata`, `.well-known/*`) stays open to any origin (`*`, SMART App
 * Launch: apps read it before they are anyone's client); those routes set it themselves and
 * only their preflights are answered here.
 */

/** Request headers the FHIR API and SMART clients send (fhirclient, Medplum, the SMART back channel). */
const ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'If-Match', 'If-None-Match', 'If-None-Exist', 'If-Modified-Since', 'Prefer'];
/**
 * Response headers a cross-origin script may read beyond the CORS-safelisted ones: the FHIR
 * version and location headers (https://hl7.org/fhir/R4/http.html), and the bearer challenge
 * and rate-limit wait of the back channel (RFC 6750 §3, RFC 6585 §4).
 */
const EXPOSE_HEADERS = ['Location', 'Content-Location', 'ETag', 'Last-Modified', 'WWW-Authenticate', 'Retry-After'];
const FHIR_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const BACK_CHANNEL_METHODS = ['POST'];
/** How long a browser may reuse a preflight answer (seconds). */
const PREFLIGHT_MAX_AGE = 600;
/** How long this process reuses the list of registered origins: a newly registered or disabled app takes effect within this. */
export const ORIGINS_TTL_MS = 30_000;

/** The SMART apps' origins, read from oauth_client at most every ORIGINS_TTL_MS (per process). */
export class RegisteredAppOrigins {
  private origins: Set<string> = new Set();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<Set<string>> | undefined;
  private readonly db: Queryable;
  private readonly clock: Clock;

  constructor(db: Queryable, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  async allows(origin: string): Promise<boolean> {
    if (this.clock.now().getTime() - this.loadedAt >= ORIGINS_TTL_MS) await this.reload();
    return this.origins.has(origin);
  }

  /** One query at a time however many requests are waiting; on a database error, the last known list (empty at first). */
  private reload(): Promise<Set<string>> {
    this.loading ??= this.db
      .query<{ redirect_uris: string[] | null; launch_uri: string | null }>(
        `SELECT redirect_uris, launch_uri FROM oauth_client WHERE kind = 'smart-app' AND status = 'approved' AND NOT disabled`
      )
      .then(
        (r) => {
          const next = new Set<string>();
          for (const row of r.rows) for (const u of [...(row.redirect_uris ?? []), row.launch_uri]) addOrigin(next, u);
          this.origins = next;
          this.loadedAt = this.clock.now().getTime();
          return next;
        },
        (err: unknown) => {
          log.error('could not read the registered app origins', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
          return this.origins;
        }
      )
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}

/** The origin (scheme://host[:port], as a browser sends it) of an http(s) URL; custom-scheme redirect URIs of native apps have none. */
function addOrigin(into: Set<string>, uri: string | null | undefined): void {
  if (!uri) return;
  try {
    const u = new URL(uri);
    if (u.protocol === 'https:' || u.protocol === 'http:') into.add(u.origin);
  } catch {
    // not a URL: registration checks them, so only hand-edited rows get here
  }
}

function isPreflight(req: Request): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

function varyOnOrigin(res: Response): void {
  const vary = res.getHeader('Vary');
  const current = vary === undefined ? [] : String(vary).split(',').map((v) => v.trim());
  if (!current.some((v) => v.toLowerCase() === 'origin' || v === '*')) res.setHeader('Vary', [...current, 'Origin'].join(', '));
}

/**
 * CORS for registered app origins. `methods` are those the endpoint serves. A preflight is
 * answered here (204) whatever the origin, with the CORS headers only for an allowed one: it
 * never reaches the FHIR API (no token, nothing to audit) or the token endpoint.
 */
export function registeredOriginsCors(origins: RegisteredAppOrigins, methods: string[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    // The answer depends on Origin, whoever asks: a shared cache must not hand one app's answer to another.
    varyOnOrigin(res);
    if (origin === undefined) {
      next();
      return;
    }
    origins.allows(origin).then(
      (allowed) => {
        if (allowed) {
          res.setHeader('Access-Control-Allow-Origin', origin);
          res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS.join(', '));
        }
        if (isPreflight(req)) {
          if (allowed) {
            res.setHeader('Access-Control-Allow-Methods', methods.join(', '));
            res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS.join(', '));
            res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
          }
          res.status(204).end();
          return;
        }
        next();
      },
      (err: unknown) => next(err)
    );
  };
}

/** Preflights of the discovery documents, which any origin may read (they set `*` on the GET themselves). */
export const openDiscoveryPreflight: RequestHandler = (req, res, next) => {
  if (!isPreflight(req)) {
    next();
    return;
  }
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
  res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS.join(', '));
  res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
  res.status(204).end();
};

/** Paths under the FHIR base that are open to every origin (served by fhir/http.ts and auth/index.ts). */
export function isOpenFhirPath(path: string): boolean {
  return path === '/metadata' || path.startsWith('/.well-known/');
}

/**
 * Everything above, mounted in the order app.ts needs: call it before the auth and FHIR
 * routers. `fhirBasePath` is the FHIR base path (/fhir/R4).
 */
export function corsForApps(db: Queryable, clock: Clock, paths: { fhirBase: string; backChannel: string[] }): RequestHandler {
  const origins = new RegisteredAppOrigins(db, clock);
  const fhir = registeredOriginsCors(origins, FHIR_METHODS);
  const backChannel = registeredOriginsCors(origins, BACK_CHANNEL_METHODS);
  const base = paths.fhirBase.replace(/\/$/, '');
  return (req, res, next) => {
    const path = req.path;
    if (paths.backChannel.includes(path)) return backChannel(req, res, next);
    if (path === '/.well-known/smart-configuration' || path === '/.well-known/openid-configuration') return openDiscoveryPreflight(req, res, next);
    if (path === base || path.startsWith(`${base}/`)) {
      const rest = path.slice(base.length);
      if (isOpenFhirPath(rest)) return openDiscoveryPreflight(req, res, next);
      return fhir(req, res, next);
    }
    next();
  };
}
