import { OperationOutcomeError } from '@medplum/core';
import { outcome } from '../kernel/outcome.ts';

/**
 * Bounded work for requests (pg.ts, pglite.ts, `Database.forRequest`): what a request's database
 * work answers when its client has gone, or when one of its statements ran past the statement
 * timeout.
 */

/** The request's client went away before the answer: its database work was stopped on purpose. */
export class RequestGone extends Error {
  constructor() {
    super('The client went away; the request was stopped');
    this.name = 'RequestGone';
  }
}

export function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RequestGone();
}

/** SQLSTATE 57014: a statement cancelled, by the statement timeout or by pg_cancel_backend. */
export function isQueryCanceled(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '57014';
}

/** A 503 in our own words; the database's text never reaches the client. */
export function statementTimedOut(ms: number): OperationOutcomeError {
  return new OperationOutcomeError(
    outcome(
      'timeout',
      `The request was stopped: one of its database statements ran longer than the server allows (${ms} ms). Narrow it (fewer or more selective parameters, a smaller _count) or try again later`
    )
  );
}
