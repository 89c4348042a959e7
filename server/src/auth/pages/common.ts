import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { bodyLimit } from '../../ingress/body-guard.ts';
import { log } from '../../log.ts';
import { REQUEST_ID } from '../authorize/request-store.ts';
import { sendPage } from './layout.ts';
import { messageBody } from './views.ts';

/** What the browser-facing routes need. */
export interface BrowserDeps {
  db: Database;
  config: Config;
}

/** Form bodies of our own pages: small, flat (no nested objects), few fields. */
export const readForm = bodyLimit(16 * 1024, express.urlencoded({ extended: false, limit: 16 * 1024, parameterLimit: 50 }));

/**
 * Wraps a page handler: an unexpected failure shows a plain error page (no stack trace, no SQL)
 * and logs only the error's class and code.
 */
export function page(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    handler(req, res).catch((err: unknown) => {
      log.error('auth page failed', { path: req.path, name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code });
      if (!res.headersSent) showMessage(res, 500, 'Something went wrong', 'The sign-in service could not complete this step. Please try again.');
    });
  };
}

export function showMessage(res: Response, status: number, title: string, message: string): void {
  sendPage(res, { page: status >= 400 ? 'error' : 'message', title, status, body: messageBody({ title, message, alert: status >= 400 }) });
}

export function refuseCsrf(res: Response): void {
  showMessage(res, 403, 'Form expired', 'This form could not be verified (missing or wrong security token). Go back, reload the page and try again.');
}

/** The authorization request id carried through the pages, when well-formed. */
export function requestIdOf(value: unknown): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

/** Where to go once the person is fully signed in. */
export function afterLogin(requestId: string | undefined): string {
  return requestId ? `/auth/authorize/continue?request=${requestId}` : '/auth/';
}

export function withRequest(path: string, requestId: string | undefined): string {
  return requestId ? `${path}?request=${requestId}` : path;
}

export function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function field(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}
