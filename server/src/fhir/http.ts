import { OperationOutcomeError, isOk } from '@medplum/core';
import type { FhirRequest, FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AccessPolicy } from '../access/policy.ts';
import { isExternal } from '../access/disclosure.ts';
import { discloseAll } from '../clinical/part2/notice.ts';
import { setAuditSource } from '../audit/audit-event.ts';
import { auditRequestScope, auditTrailFor } from '../audit/audit-trail.ts';
import { beginFhirAudit } from '../audit/fhir-audit.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { bodyLimit } from '../ingress/body-guard.ts';
import { type Logger, log } from '../log.ts';
import { Repository } from '../store/repository.ts';
import { writeHooks } from '../write-hooks.ts';
import { applySubset } from '../kernel/subset.ts';
import { bulkExportRoutes } from './bulk-export.ts';
import { capabilityStatement } from './interactions/metadata.ts';
import { fail, informational, outcome, statusOf } from '../kernel/outcome.ts';
import { jsonDepthExceeds } from './json-depth.ts';
import { causeOf, isDatabaseError, ownError } from './own-errors.ts';
import { parseJson, stringifyJson, stringifyStored } from '../kernel/json.ts';

/**
 * The FHIR REST binding (https://hl7.org/fhir/R4/http.html): HTTP in, FhirRouter in the middle,
 * HTTP out. This file owns content negotiation, Prefer, ETag/If-Match/If-None-Match,
 * Last-Modified, Location, _summary/_elements/_pretty on single resources, and the rule that
 * no error leaves without an OperationOutcome and nothing internal leaks.
 */
export interface FhirHttpDeps {
  db: Database;
  config: Config;
  router: FhirRouter;
  authenticate: (authorization: string | undefined) => Promise<AccessPolicy>;
  software: { name: string; version: string };
  /** Bulk Data $export (./bulk-export.ts): wakes the export worker after a kick-off. */
  wakeExport?: () => void;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

export function fhirHttp(deps: FhirHttpDeps): express.Router {
  const { config } = deps;
  const fhirBase = `${config.baseUrl}/fhir/R4`;
  const r = express.Router();
  setAuditSource(fhirBase);
  const trail = auditTrailFor(deps.db);

  r.get('/metadata', (req, res) => {
    res.set('Access-Control-Allow-Origin', '*'); // SMART: browser apps read it from other origins
    checkFormat(req);
    send(req, res, 200, capabilityStatement(config.baseUrl, fhirBase, deps.software));
  });

  r.use(bodyLimit(config.maxBodyBytes, express.raw({ type: () => true, limit: config.maxBodyBytes })));
  // $export and its status and file URLs answer in HTTP terms of their own (202, NDJSON).
  r.use(bulkExportRoutes({ db: deps.db, config, router: deps.router, trail, authenticate: deps.authenticate, wake: deps.wakeExport ?? (() => undefined), sendError }));

  r.use(async (req: Request, res: Response, next: NextFunction) => {
    // Every request is audited when its response is sent, whatever the outcome (audit/fhir-audit.ts).
    const audit = beginFhirAudit(trail, req, res, deps.router);
    // A client that goes away before its answer stops the request's database work (db/pg.ts).
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) gone.abort();
    });
    try {
      checkFormat(req);
      const access = await deps.authenticate(req.headers.authorization);
      audit.access = access;
      const prefer = parsePrefer([req.headers.prefer ?? []].flat().join(","));
      const body = parseBody(req);
      audit.body = body;
      const repo = new Repository(deps.db.forRequest(gone.signal), {
        tenant: access.tenant,
        access,
        fhirBase,
        lenient: prefer.handling === 'lenient',
        defaultCount: config.defaultCount,
        maxCount: config.maxCount,
        hooks: writeHooks,
      });
      const path = req.path.replace(/^\/+/, '');
      const search = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
      const fhirReq: FhirRequest = {
        method: req.method as HttpMethod,
        url: path + search,
        pathname: '',
        body,
        params: {},
        query: {},
        headers: req.headers,
      };
      const [result, resource] = await auditRequestScope.run(audit, () => deps.router.handleRequest(fhirReq, repo));
      audit.resource = resource;
      if (gone.signal.aborted) return clientWentAway(req);
      respond(req, res, result, resource, prefer.return, access, audit.interaction);
    } catch (err) {
      if (gone.signal.aborted) return clientWentAway(req);
      next(err);
    }
  });

  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendError(req, res, err);
  });
  return r;
}

/** Nobody is left to answer: one line, not an error (the work was stopped on purpose). */
function clientWentAway(req: Request): void {
  log.info('request stopped: the client went away', { method: req.method, path: req.baseUrl });
}

/**
 * Answers built from fresh reads, sent with their resources' stored text (kernel/json.ts
 * `stringifyStored`): nothing between the read and the answer changes those objects (a notice or
 * a subset makes new ones), which other interactions (operations, transactions) cannot promise.
 */
const FRESH_READS = new Set(['read', 'vread', 'search-type', 'search-system']);

function respond(
  req: Request,
  res: Response,
  result: OperationOutcome,
  resource: Resource | undefined,
  preferReturn: string | undefined,
  access: AccessPolicy,
  interaction: string | undefined
): void {
  const status = statusOf(result);
  if (!isOk(result) && status >= 400) {
    // A fault the route guard converted (./route-guard.ts): log what it stands for.
    sendError(req, res, causeOf(result) ?? new OperationOutcomeError(result));
    return;
  }
  if (!resource) {
    // Delete and friends: an OperationOutcome says what happened.
    send(req, res, status === 201 ? 201 : 200, informational(result.issue?.[0]?.details?.text ?? 'All OK'));
    return;
  }
  const versionId = resource.meta?.versionId;
  const isResourceBody = resource.resourceType !== 'Bundle' && resource.resourceType !== 'OperationOutcome' && resource.id;
  if (isResourceBody && versionId) {
    res.setHeader('ETag', `W/"${versionId}"`);
    if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    if (status === 201) {
      res.setHeader('Location', `${fhirBaseOf(req)}/${resource.resourceType}/${resource.id}/_history/${versionId}`);
    }
    // If-None-Match on read (https://hl7.org/fhir/R4/http.html#cread): 304 when the client has it.
    const inm = req.headers['if-none-match'];
    if (req.method === 'GET' && inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${versionId}"`)) {
      res.status(304).end();
      return;
    }
  }
  if (req.method !== 'GET' && isResourceBody) {
    // Prefer return (https://hl7.org/fhir/R4/http.html#ops).
    if (preferReturn === 'minimal') {
      res.status(status).end();
      return;
    }
    if (preferReturn === 'OperationOutcome') {
      send(req, res, status, informational(`${resource.resourceType}/${resource.id} version ${versionId} stored`));
      return;
    }
  }
  let body: Resource = resource;
  if (req.method === 'GET' && isResourceBody) {
    const summary = lastQuery(req, '_summary');
    const elements = lastQuery(req, '_elements');
    if (summary || elements) {
      body = applySubset(resource, { summary: summary as 'true', elements: elements?.split(',').map((s) => s.trim()) });
    }
  }
  // Disclosed outside the treating clinic: every Part 2 record carries the §2.32 notice
  // (read, vread, search and its _include, history, $everything, transaction responses).
  if (isExternal(access.context)) body = discloseAll(body);
  send(req, res, status, body, FRESH_READS.has(interaction ?? ''));
}

/** `fresh`: the body's stored resources are as read (FRESH_READS). */
export function send(req: Request, res: Response, status: number, body: unknown, fresh = false): void {
  const pretty = lastQuery(req, '_pretty') === 'true';
  res.status(status).type(FHIR_JSON).send(pretty ? stringifyJson(body, 2) : fresh ? stringifyStored(body) : stringifyJson(body));
}

export function sendError(req: Request, res: Response, err: unknown): void {
  let o: OperationOutcome;
  const e = err as { type?: string; status?: number; code?: string };
  if (err instanceof OperationOutcomeError) {
    o = err.outcome;
  } else if (e?.type === 'entity.too.large') {
    o = outcome('too-large', 'The request body is larger than the server accepts');
  } else if (!isDatabaseError(err) && (e?.type === 'entity.parse.failed' || e?.status === 400)) {
    // express's body reader (a bad encoding, a broken stream).
    o = outcome('invalid', 'The request could not be read');
  } else {
    // Only an OperationOutcomeError keeps its words; anything else is ours to log, not to show.
    o = ownError(err).outcome;
  }
  let status = statusOf(o);
  if (o.id === 'timeout') {
    // The statement timeout (db/request-scope.ts): our own words, already free of database text.
    log.info('request stopped by the statement timeout', { method: req.method, path: req.baseUrl });
  } else if (status >= 500) {
    // Never send internals (stack, SQL, values) to the client; log only what cannot carry PHI.
    // With the request id the access log gave it (http/access-log.ts), when there is one.
    ((res.locals.log as Logger | undefined) ?? log).error('request failed', { method: req.method, path: req.baseUrl, code: e?.code, name: (err as Error)?.name, stack: stackFrames(err) });
    o = outcome('server-error', 'The server could not complete the request; the error has been logged');
    status = 500;
  }
  if (status === 401) {
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    res.setHeader('WWW-Authenticate', req.headers.authorization ? 'Bearer realm="fhir", error="invalid_token"' : 'Bearer realm="fhir"');
  }
  send(req, res, status, o);
}

function stackFrames(err: unknown): string | undefined {
  const stack = (err as Error)?.stack;
  return stack?.split('\n').slice(1, 8).join('\n');
}

function fhirBaseOf(req: Request): string {
  return `${(req.app.locals.config as Config).baseUrl}/fhir/R4`;
}

function lastQuery(req: Request, name: string): string | undefined {
  const v = req.query[name];
  const s = Array.isArray(v) ? v.at(-1) : v;
  return typeof s === 'string' ? s : undefined;
}

/** _format and Accept: we speak JSON only; asking for XML (or anything else) is a 406. */
function checkFormat(req: Request): void {
  const format = lastQuery(req, '_format');
  if (format && !['json', 'application/json', 'application/fhir+json', 'application/json+fhir'].includes(format)) {
    fail('not-acceptable', `_format '${format}' is not supported; this server returns application/fhir+json`, '_format');
  }
  const accept = req.headers.accept;
  if (accept && !accept.split(',').some((a) => /(^|\/|\+)json\b|\*\/\*|^application\/\*/.test(a.trim().split(';')[0]))) {
    fail('not-acceptable', `Accept '${accept}' is not supported; this server returns application/fhir+json`);
  }
}

function parsePrefer(header: string | undefined): { return?: string; handling?: string } {
  const out: { return?: string; handling?: string } = {};
  for (const part of (header ?? '').split(/[;,]/)) {
    const [k, v] = part.split('=').map((s) => s?.trim());
    if (k === 'return' && v) out.return = v.replace(/"/g, '');
    if (k === 'handling' && v) out.handling = v.replace(/"/g, '');
  }
  return out;
}

/** Far beyond any FHIR resource (a QuestionnaireResponse nested 30 items deep is about 100). */
const MAX_JSON_DEPTH = 100;

function parseBody(req: Request): unknown {
  const raw = req.body as Buffer | undefined;
  const hasBody = Buffer.isBuffer(raw) && raw.length > 0;
  if (!hasBody) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const text = raw.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    if (!(req.method === 'POST' && req.path.endsWith('/_search'))) {
      fail('unsupported-media-type', 'application/x-www-form-urlencoded is accepted only by POST [type]/_search');
    }
    const q: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      const prev = q[k];
      // Appended in place: copying the array per repeat made a large form quadratic to read.
      if (prev === undefined) q[k] = v;
      else if (Array.isArray(prev)) prev.push(v);
      else q[k] = [prev, v];
    }
    return q;
  }
  const isPatch = req.method === 'PATCH';
  if (!JSON_TYPES.has(type) && !(isPatch && type === 'application/json-patch+json')) {
    fail(
      'unsupported-media-type',
      `Content-Type '${type || '(none)'}' is not supported; send application/fhir+json${isPatch ? ' or application/json-patch+json' : ''}`
    );
  }
  // Checked before parsing: the parse survives deep nesting, but every recursive walk after it
  // (validation, indexing, JSON.stringify) would die of stack overflow.
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    fail('invalid', `The body is nested too deeply: at most ${MAX_JSON_DEPTH} levels of objects and arrays`);
  }
  try {
    return parseJson(text);
  } catch (err) {
    fail('invalid', `The body is not valid JSON: ${(err as Error).message.replace(/"[^"]*"/g, '…')}`);
  }
}
