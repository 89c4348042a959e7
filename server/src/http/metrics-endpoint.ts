import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import express from 'express';
import { log } from '../log.ts';
import { outcome } from '../kernel/outcome.ts';
import { METRICS_CONTENT_TYPE, type Sample, renderSamples } from './metrics.ts';

/**
 * Where /metrics is served. Metrics are for operators, never on the public port unprotected:
 * - `METRICS_TOKEN`: `/metrics` on the public port, for `Authorization: Bearer <METRICS_TOKEN>`
 *   only (401 otherwise);
 * - `METRICS_PORT`: `/metrics` on a port of its own, unauthenticated (keep that port off the
 *   public network), served by main.ts (by the primary in cluster mode);
 * - neither: there is no /metrics (404).
 */
export function metricsRouter(token: string | undefined, scrape: () => Promise<Sample[]>): express.Router {
  const r = express.Router();
  if (!token) return r;
  const expected = digest(`Bearer ${token}`);
  r.get('/metrics', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    if (!timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      res.set('WWW-Authenticate', 'Bearer realm="metrics"');
      res.status(401).type('application/fhir+json').send(JSON.stringify(outcome('unauthorized', 'The metrics need the bearer token the server was given as METRICS_TOKEN')));
      return;
    }
    res.type(METRICS_CONTENT_TYPE).send(renderSamples(await scrape()));
  });
  return r;
}

/** Same-length values for a constant-time comparison, whatever the header's length. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The separate metrics port (METRICS_PORT): GET /metrics and nothing else. */
export function listenForMetrics(port: number, scrape: () => Promise<Sample[]>): http.Server {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    scrape().then(
      (samples) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(renderSamples(samples)),
      (err: unknown) => {
        log.error('metrics scrape failed', { name: (err as Error)?.name, code: (err as { code?: string })?.code });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      }
    );
  });
  server.listen(port);
  return server;
}
