import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { type FhirAudit, interactionOf } from '../audit/fhir-audit.ts';
import { log } from '../log.ts';
import type { Lifecycle } from './health.ts';
import { letGo } from './rebalance.ts';
import type { Metrics } from './metrics.ts';

/**
 * One access-log line per request, written when the response ends (or the client goes away), and
 * the request's count and duration in the metrics. The line names the request by its id, method,
 * route template or FHIR interaction, status, duration, bytes sent, and the tenant and client
 * when the FHIR layer authenticated one. Never the URL: a path or query string can carry a name
 * (`Patient?name=…`, `/auth/users/<username>`), and logs carry no PHI (../log.ts).
 *
 * The request id: the caller's `X-Request-Id` when it is a plain token (so a trace crosses the
 * balancer), else a new UUID; echoed in the response's `X-Request-Id`, and on `res.locals.log`,
 * a logger that stamps it on every line logged for the request.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function accessLog(metrics: Metrics, lifecycle: Lifecycle) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    res.locals.log = log.child({ requestId });
    // While draining, each answer closes its connection: keep-alive clients reconnect elsewhere.
    // So does the next answer on a connection taken before another worker joined (./rebalance.ts).
    if (lifecycle.draining || letGo(req.socket, lifecycle)) res.setHeader('Connection', 'close');
    lifecycle.inFlight++;
    res.once('close', () => {
      lifecycle.inFlight--;
      const route = routeOf(req, res);
      const ms = performance.now() - started;
      const finished = res.writableFinished;
      metrics.observeRequest(route, finished ? res.statusCode : 499, ms / 1000);
      const audit = res.locals.fhirAudit as FhirAudit | undefined;
      const length = Number(res.getHeader('content-length'));
      log.info('request', {
        requestId,
        method: req.method,
        route,
        status: finished ? res.statusCode : undefined,
        aborted: finished ? undefined : true,
        ms: Math.round(ms * 10) / 10,
        bytes: Number.isFinite(length) ? length : undefined,
        tenant: audit?.access?.tenant,
        client: audit?.access?.clientId,
      });
    });
    next();
  };
}

/**
 * The request as a label of few values and no PHI: a FHIR request's interaction (`read`,
 * `search-type`, `transaction`, `operation` …), else the matched route's template
 * (`/auth/clients/:id/approve`), else the area it fell in.
 */
export function routeOf(req: Request, res: Response): string {
  const audit = res.locals.fhirAudit as FhirAudit | undefined;
  if (audit) return interactionOf(audit);
  const path = req.originalUrl.split('?')[0];
  if (path === '/fhir/R4/metadata') return 'capabilities';
  const template = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof template === 'string') return `${req.baseUrl}${template}`;
  if (path.startsWith('/apps/')) return '/apps/*';
  if (path.startsWith('/fhir/')) return '/fhir/*';
  if (path.startsWith('/auth/')) return '/auth/*';
  return 'unmatched';
}
