import express from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where `apps/build.ts` writes the SMART apps' bundles (apps/dist beside server/), unless APPS_DIR says otherwise. */
export const APPS_DIST = join(import.meta.dirname, '../../../apps/dist');

/**
 * The SMART apps' static bundles at /apps/<name>/ (built by apps/build.ts before start and
 * tests). Pages are revalidated every time (a new build must reach people at once); hashed
 * assets under /apps/assets/ never change and are cached for a year. The CSP allows our own
 * scripts, Mantine's inline styles and connections to this origin (FHIR API, token endpoint,
 * subscription websocket), nothing else.
 */
export function appsRouter(dir: string = APPS_DIST): express.Router {
  const router = express.Router();
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  router.use('/apps', (req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    if (!existsSync(dir)) {
      res.status(503).type('text/plain').send('The apps are not built yet: `npm start` builds them (apps/build.ts).');
      return;
    }
    next();
  });
  router.use(
    '/apps',
    express.static(dir, {
      index: 'index.html',
      redirect: true,
      dotfiles: 'ignore',
      setHeaders(res, path) {
        if (path.includes('/assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        else res.setHeader('Cache-Control', 'no-cache');
      },
    })
  );
  return router;
}
