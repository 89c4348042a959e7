import { OperationOutcomeError } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { RequestGone } from './request-scope.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('a request whose client went away', () => {
  test('starts no further statement, alone or in a transaction', async () => {
    const gone = new AbortController();
    const db = t.db.forRequest(gone.signal);
    expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows[0].n).toBe(1);
    let inside = 0;
    const tx = db.transaction(async (q) => {
      await q.query('SELECT 1');
      inside++;
      gone.abort();
      await q.query('SELECT 2');
      inside++;
    });
    expect(await failure(tx)).toBeInstanceOf(RequestGone);
    expect(inside).toBe(1);
    expect(await failure(db.query('SELECT 1'))).toBeInstanceOf(RequestGone);
    // The database itself (and other requests) carry on.
    expect((await t.db.query<{ n: number }>('SELECT 1 AS n')).rows[0].n).toBe(1);
  });
});

describe.runIf(process.env.DATABASE_URL)('the statement timeout on PostgreSQL (needs DATABASE_URL)', () => {
  test('a statement past it fails with our 503 outcome; its connection serves the next statement', async () => {
    t.db.setStatementTimeout(200);
    try {
      const err = await failure(t.db.forRequest(new AbortController().signal).query('SELECT pg_sleep(2)'));
      expect(err).toBeInstanceOf(OperationOutcomeError);
      const o = (err as OperationOutcomeError).outcome;
      expect(o.id).toBe('timeout');
      expect(o.issue?.[0]?.code).toBe('timeout');
      expect(o.issue?.[0]?.diagnostics).not.toMatch(/canceling|statement_timeout/);
      // In a transaction too; afterwards every pooled connection (8 in tests) still works.
      expect(await failure(t.db.transaction((q) => q.query('SELECT pg_sleep(2)')))).toBeInstanceOf(OperationOutcomeError);
      const ok = await Promise.all(Array.from({ length: 8 }, () => t.db.query<{ n: number }>('SELECT 1 AS n')));
      expect(ok.map((r) => r.rows[0].n)).toEqual(Array(8).fill(1));
    } finally {
      t.db.setStatementTimeout(0);
    }
  });

  test('unbounded maintenance runs past it, and the timeout is back for what follows', async () => {
    t.db.setStatementTimeout(200);
    try {
      await t.db.unbounded((q) => q.query('SELECT pg_sleep(0.5)'));
      expect(await failure(t.db.query('SELECT pg_sleep(2)'))).toBeInstanceOf(OperationOutcomeError);
    } finally {
      t.db.setStatementTimeout(0);
    }
  });
});
