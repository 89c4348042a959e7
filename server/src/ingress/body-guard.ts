import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { outcome } from '../kernel/outcome.ts';

/**
 * Request bodies are answered as soon as they go wrong, not after they have been read:
 *
 * - a Content-Length over the limit gets 413 before a byte of the body is read;
 * - a body sent without a length (chunked) is counted as it arrives: 413 the moment it passes
 *   the limit;
 * - a body that stops arriving (nothing for BODY_TIMEOUT_MS) gets 408.
 *
 * Each answer carries `Connection: close`, so Node closes the socket once it is sent and the
 * client stops sending. body-parser alone would read an oversized body to its end before
 * answering, and wait forever on one that never ends.
 *
 * `guardBodies` (app.ts) watches every request with the server-wide limit; `bodyLimit` wraps a
 * route's own parser with that route's smaller limit. Bytes are counted where Node hands them to
 * the request stream (`push`), so they count whether or not anyone is reading yet.
 */
export interface BodyLimits {
  maxBytes: number;
  idleMs: number;
}

interface Guard {
  limit: number;
  received: number;
  answered: boolean;
  idleMs: number;
  idle?: NodeJS.Timeout;
}

const guards = new WeakMap<Request, Guard>();
const DEFAULT_IDLE_MS = 30_000;

export function guardBodies(limits: BodyLimits): RequestHandler {
  return (req, res, next) => {
    if (!watch(req, res, limits)?.answered) next();
  };
}

/** Runs `parser` under a limit of `maxBytes` (lower than the server-wide one). */
export function bodyLimit(maxBytes: number, parser: RequestHandler): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const g = watch(req, res, { maxBytes, idleMs: guards.get(req)?.idleMs ?? DEFAULT_IDLE_MS });
    if (g) {
      g.limit = Math.min(g.limit, maxBytes);
      if (g.received > g.limit || declaredLength(req) > g.limit) reject(g, req, res, 413);
      if (g.answered) return;
    }
    // Once we have answered, the parser's own late error (the socket closed under it) is dropped.
    parser(req, res, (err?: unknown) => {
      if (!g?.answered) next(err);
    });
  };
}

function declaredLength(req: Request): number {
  const v = req.headers['content-length'];
  return v === undefined ? 0 : Number(v);
}

function watch(req: Request, res: Response, limits: BodyLimits): Guard | undefined {
  const existing = guards.get(req);
  if (existing) return existing;
  if (req.headers['transfer-encoding'] === undefined && declaredLength(req) === 0) return undefined;
  // Whatever arrived with the headers is already buffered on the stream.
  const g: Guard = { limit: limits.maxBytes, received: req.readableLength, answered: false, idleMs: limits.idleMs };
  guards.set(req, g);
  if (declaredLength(req) > g.limit || g.received > g.limit) {
    reject(g, req, res, 413);
    return g;
  }
  const push = req.push;
  req.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (g.answered) return true; // discarded: the socket closes once the answer is sent
    if (chunk === null) {
      clearTimeout(g.idle);
    } else {
      g.received += (chunk as Buffer).length;
      if (g.received > g.limit) {
        reject(g, req, res, 413);
        return true;
      }
      restartIdle(g, req, res);
    }
    return push.call(this, chunk, encoding);
  };
  if (!req.complete) restartIdle(g, req, res);
  // An answer sent without reading the body (a 401, a 404) ends the watch for silence.
  res.once('close', () => clearTimeout(g.idle));
  res.once('finish', () => clearTimeout(g.idle));
  return g;
}

function restartIdle(g: Guard, req: Request, res: Response): void {
  clearTimeout(g.idle);
  g.idle = setTimeout(() => reject(g, req, res, 408), g.idleMs);
  g.idle.unref();
}

function reject(g: Guard, req: Request, res: Response, status: 408 | 413): void {
  if (g.answered) return;
  g.answered = true;
  clearTimeout(g.idle);
  // Not from inside Node's parser callback (push): answer on the next tick.
  process.nextTick(() => {
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const body =
      status === 413
        ? outcome('too-large', `The request body is larger than the ${g.limit} bytes accepted here`)
        : outcome('request-timeout', 'The request body stopped arriving; the connection is closed');
    res.status(status).set('Connection', 'close').type('application/fhir+json').send(JSON.stringify(body));
  });
}
