import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/**
 * The one place where our failure kinds become OperationOutcomes and HTTP statuses.
 * Every expected failure is thrown as `fail(kind, diagnostics, expression)`; the HTTP layer maps
 * anything else to a 500 whose body says nothing about the cause (no stack, no SQL, no PHI).
 */
export const KINDS = {
  invalid: { status: 400, code: 'invalid' },
  'not-supported': { status: 400, code: 'not-supported' },
  unauthorized: { status: 401, code: 'login' },
  forbidden: { status: 403, code: 'forbidden' },
  'not-found': { status: 404, code: 'not-found' },
  'method-not-allowed': { status: 405, code: 'not-supported' },
  'not-acceptable': { status: 406, code: 'not-supported' },
  /** A request body that stopped arriving (ingress/body-guard.ts). */
  'request-timeout': { status: 408, code: 'timeout' },
  conflict: { status: 409, code: 'conflict' },
  gone: { status: 410, code: 'deleted' },
  precondition: { status: 412, code: 'conflict' },
  'multiple-matches': { status: 412, code: 'multiple-matches' },
  'too-large': { status: 413, code: 'too-costly' },
  /** A request beyond a limit that keeps one request from holding the server (store/search/limits.ts). */
  'too-costly': { status: 400, code: 'too-costly' },
  'unsupported-media-type': { status: 415, code: 'not-supported' },
  'unprocessable': { status: 422, code: 'processing' },
  'too-many-requests': { status: 429, code: 'throttled' },
  'server-error': { status: 500, code: 'exception' },
  /** A request stopped by the statement timeout (db/request-scope.ts): our words, never the database's. */
  timeout: { status: 503, code: 'timeout' },
  unavailable: { status: 503, code: 'transient' },
} as const;
export type Kind = keyof typeof KINDS;

export function outcome(kind: Kind, diagnostics: string, expression?: string | string[]): OperationOutcome {
  const { code } = KINDS[kind];
  return {
    resourceType: 'OperationOutcome',
    id: kind,
    issue: [
      {
        severity: 'error',
        code,
        details: { text: diagnostics },
        diagnostics,
        ...(expression ? { expression: Array.isArray(expression) ? expression : [expression] } : {}),
      },
    ],
  };
}

export function fail(kind: Kind, diagnostics: string, expression?: string | string[]): never {
  throw new OperationOutcomeError(outcome(kind, diagnostics, expression));
}

export function statusOf(o: OperationOutcome): number {
  const k = o.id as Kind | undefined;
  if (k && k in KINDS) return KINDS[k].status;
  return getStatus(o);
}

export function informational(diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics }] };
}
