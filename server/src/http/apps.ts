import express from 'express';
import { existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { html } from '../auth/pages/html.ts';
import { STYLESHEET_PATH } from '../auth/pages/layout.ts';

/** Where `apps/build.ts` writes the SMART apps' bundles (apps/dist beside server/), unless APPS_DIR says otherwise. */
export const APPS_DIST = join(import.meta.dirname, '../../../apps/dist');

/**
 * The Content-Security-Policy of every app page (https://www.w3.org/TR/CSP3/), what the apps
 * need and nothing more:
 * - scripts: only our own bundles (no inline script, no eval: Vite emits modules, fhirclient and
 *   Medplum need neither);
 * - styles: our own stylesheet plus inline styles, which Mantine needs (its provider writes a
 *   <style> element with the theme's CSS variables and components set style attributes);
 * - images and fonts: our own only (the build inlines no data: URL, Mantine's icons are inline
 *   SVG elements, its fonts the system stack);
 * - connections: this origin only (FHIR API, token endpoint, subscription websocket on the same
 *   host; CSP 3 'self' covers ws: and wss: to it);
 * - no plugins, no <base>, forms only to us, never framed.
 * test/http/apps.test.ts launches every app in chromium and fails on any violation.
 */
export const APPS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Vite names every bundle after a hash of its content (`assets/<name>-<hash>.js`): a changed
 * file gets a new name, so the browser may keep one for a year without asking again. Anything
 * else (the pages, which name the current bundles) is revalidated on every load, so a new build
 * reaches people at once.
 */
const HASHED = /\/assets\/(?:.+\/)?[^/]+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** Types apps/build.ts precompresses (a `.gz` beside the file when it is worth it). */
const COMPRESSED_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

/**
 * The SMART apps' static bundles at /apps/<name>/ (built by apps/build.ts before start and
 * tests): CSP above, caching by hashed name, the precompressed `.gz` for browsers that accept
 * gzip, and a plain page for anything missing (an app URL is opened by a person: no FHIR
 * OperationOutcome, nothing internal).
 */
export function appsRouter(dir: string = APPS_DIST): express.Router {
  const root = resolve(dir);
  const router = express.Router();
  router.use('/apps', (req, res, next) => {
    res.setHeader('Content-Security-Policy', APPS_CSP);
    if (!existsSync(root)) {
      res.status(503).type('text/plain').send('The apps are not built yet: `npm start` builds them (apps/build.ts).');
      return;
    }
    next();
  });
  // The list of apps is the home page.
  router.get(['/apps', '/apps/'], (_req, res) => {
    res.redirect(302, '/');
  });
  router.use('/apps', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const file = fileFor(root, req.path);
    const type = file && COMPRESSED_TYPES[extname(file)];
    if (!file || !type) return next();
    res.setHeader('Vary', 'Accept-Encoding');
    if (!req.acceptsEncodings('gzip') || !isFile(`${file}.gz`)) return next();
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Encoding', 'gzip');
    res.setHeader('Cache-Control', HASHED.test(req.path) ? IMMUTABLE : REVALIDATE);
    res.sendFile(`${file}.gz`, { dotfiles: 'deny', cacheControl: false }, (err) => {
      if (err && !res.headersSent) next();
    });
  });
  router.use(
    '/apps',
    express.static(root, {
      index: 'index.html',
      redirect: true,
      dotfiles: 'ignore',
      cacheControl: false,
      setHeaders(res, path) {
        res.setHeader('Cache-Control', HASHED.test(path.slice(root.length).split(sep).join('/')) ? IMMUTABLE : REVALIDATE);
      },
    })
  );
  router.use('/apps', (_req, res) => {
    res.setHeader('Cache-Control', REVALIDATE);
    res.status(404).type('html').send(notFoundPage().value);
  });
  return router;
}

/** The file a request path names inside `root` (a directory means its index.html), or undefined if outside or missing. */
function fileFor(root: string, path: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  if (rel.includes('\0') || rel.split('/').some((seg) => seg === '..' || seg.startsWith('.'))) return undefined;
  const full = resolve(root, `.${rel.endsWith('/') ? `${rel}index.html` : rel}`);
  if (!full.startsWith(root + sep) || !isFile(full)) return undefined;
  return full;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A missing app page: plain words and a way on (the home page lists the apps); styled by the sign-in pages' stylesheet. */
function notFoundPage() {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Page not found</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main>
<h1>Page not found</h1>
<p>There is no app at this address.</p>
<p><a href="/">See the apps this server offers</a></p>
</main>
</body>
</html>
`;
}
