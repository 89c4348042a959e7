import { OperationOutcomeError } from '@medplum/core';
import { type Queryable, runBatch } from '../db/database.ts';
import { outcome } from '../kernel/outcome.ts';

/**
 * Database failures leave the store as 500 OperationOutcomes that say nothing of the cause.
 * The FHIR router turns any other error a repository throws into a 400 carrying its message,
 * and a database's message names tables, indexes and values ('index row size 4016 exceeds btree
 * version 4 maximum 2704 for index "idx_string_value"'). The SQLSTATE stays on the error as
 * `code`, so transaction retries (40001/40P01), the write path's own mapping (write.ts) and the
 * log still see it.
 */
export class DatabaseFailure extends OperationOutcomeError {
  readonly code: string;
  constructor(cause: unknown) {
    super(outcome('server-error', 'database error'), { cause });
    this.code = String((cause as { code?: unknown }).code ?? '');
  }
}

/** pg's DatabaseError and PGlite's carry a five-character SQLSTATE in `code`. */
export function isDatabaseError(err: unknown): boolean {
  if (err instanceof OperationOutcomeError) return false;
  const e = err as { code?: unknown; constructor?: { name?: string } } | null;
  return Boolean(e) && ((typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) || e?.constructor?.name === 'DatabaseError');
}

export function asOutcome(err: unknown): unknown {
  return isDatabaseError(err) ? new DatabaseFailure(err) : err;
}

/** `q` whose failed statements reject with a DatabaseFailure. */
export function guardQueries(q: Queryable): Queryable {
  if (q instanceof GuardedQueries) return q;
  return new GuardedQueries(q);
}

class GuardedQueries implements Queryable {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }
  query: Queryable['query'] = async (sql, params, options) => {
    try {
      return await this.q.query(sql, params, options);
    } catch (err) {
      throw asOutcome(err);
    }
  };
  // The options go on: a transaction's last batch carries its COMMIT (db/pg.ts). They were dropped,
  // so a last batch (a risk Task's timer row with the final writes) cost a round trip of its own for COMMIT.
  batch: Queryable['batch'] = async (statements, options) => {
    try {
      return await runBatch(this.q, statements, options);
    } catch (err) {
      throw asOutcome(err);
    }
  };
}
