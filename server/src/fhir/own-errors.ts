import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { isRetryable } from '../db/database.ts';
import { outcome } from '../kernel/outcome.ts';

/**
 * The rule that only our own words reach a client. An OperationOutcomeError was thrown on purpose
 * (by us, or by @medplum/* for a bad request) and keeps its text; anything else — a TypeError, a
 * RangeError, a database error — is a fault of ours whose message can carry code, SQL or values.
 * @medplum/fhir-router would turn such an error into a 400 with its message (its
 * normalizeOperationOutcome), so it is converted before the router sees it (./route-guard.ts) and
 * again at the HTTP edge (http.ts sendError).
 */
export function ownError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  if (isRetryable(err)) {
    // A serialization failure or deadlock that survived the transaction's retries (db/database.ts).
    return new OperationOutcomeError(outcome('conflict', 'The resource was changed concurrently by another request; retry'));
  }
  if (err instanceof SyntaxError) {
    // JSON inside the request that @medplum/fhir-router parses itself (a bundle's PATCH entry:
    // Binary data, a Parameters valueString): the client's, but in V8's words.
    return new OperationOutcomeError(outcome('invalid', 'A JSON value inside the request is not valid JSON'));
  }
  const o = outcome('server-error', 'The server could not complete the request; the error has been logged');
  causes.set(o, err);
  return new OperationOutcomeError(o);
}

/** What a server-error outcome made by `ownError` stands for, for the log line (never the client). */
export function causeOf(o: OperationOutcome): unknown {
  return causes.get(o);
}
const causes = new WeakMap<OperationOutcome, unknown>();

/** pg's DatabaseError and PGlite's carry a five-character SQLSTATE in `code`. */
export function isDatabaseError(err: unknown): boolean {
  const e = err as { code?: unknown; constructor?: { name?: string } } | null;
  return Boolean(e) && ((typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) || e?.constructor?.name === 'DatabaseError');
}
