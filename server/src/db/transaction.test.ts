import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { runBatch } from './database.ts';

// A transaction's last statement (the repository's final flush) may run on its own when it is also
// the first (pg: no BEGIN / COMMIT round trips). Whatever the driver does, a transaction must keep
// its meaning: everything or nothing, and nothing after its last statement.
let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.query('CREATE TABLE tx_probe (k text PRIMARY KEY, v int NOT NULL)');
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

const value = async (k: string) => (await t.db.query<{ v: number }>('SELECT v FROM tx_probe WHERE k = $1', [k])).rows[0]?.v;

describe('the last statement of a transaction', () => {
  test('alone, it is committed', async () => {
    await t.db.transaction(async (q) => {
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['alone'], { last: true });
    });
    expect(await value('alone')).toBe(1);
  });

  test('after other statements, all of them commit together', async () => {
    await t.db.transaction(async (q) => {
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['first']);
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 2)', ['second'], { last: true });
    });
    expect([await value('first'), await value('second')]).toEqual([1, 2]);
  });

  test('a failure after earlier statements rolls all of them back', async () => {
    await expect(
      t.db.transaction(async (q) => {
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['rolled-back']);
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, NULL)', ['violates'], { last: true });
      })
    ).rejects.toThrow();
    expect(await value('rolled-back')).toBeUndefined();
  });

  test('the last statement commits with it: a callback that fails afterwards undoes nothing (pg)', async () => {
    await expect(
      t.db.transaction(async (q) => {
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['before-last']);
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['last'], { last: true });
        throw new Error('the caller failed after its last statement');
      })
    ).rejects.toThrow('the caller failed');
    // pg: the last statement carried the COMMIT (one round trip); PGlite keeps one transaction
    // open until the callback returns. Either way both rows share one fate.
    const expected = t.db.kind === 'postgres' ? 1 : undefined;
    expect([await value('before-last'), await value('last')]).toEqual([expected, expected]);
  });

  test('a last statement with large values commits all the same', async () => {
    const big = 'x'.repeat(300 * 1024);
    await t.db.transaction(async (q) => {
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['big-first']);
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, length($2::text))', ['big-last', big], { last: true });
    });
    expect([await value('big-first'), await value('big-last')]).toEqual([1, big.length]);
  });

  test('a statement after the last one is refused (pg), never run outside the transaction', async () => {
    const outcome = await t.db
      .transaction(async (q) => {
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['only'], { last: true });
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['after-last']);
      })
      .then(() => 'ran', (err: Error) => err.message);
    if (t.db.kind === 'postgres') {
      expect(outcome).toContain('after the transaction');
      expect(await value('after-last')).toBeUndefined();
    } else {
      // PGlite runs every transaction as one (its single connection): both commit together.
      expect(outcome).toBe('ran');
      expect(await value('after-last')).toBe(1);
    }
  });
});

describe('a batch of statements (one round trip on pg)', () => {
  test('the last batch of a transaction commits it, earlier statements included', async () => {
    await t.db.transaction(async (q) => {
      await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['b-first']);
      await runBatch(
        q,
        [
          { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, 2)', params: ['b-second'], prepare: true },
          { sql: 'UPDATE tx_probe SET v = v + 10 WHERE k = $1', params: ['b-first'] },
        ],
        { last: true }
      );
    });
    expect([await value('b-first'), await value('b-second')]).toEqual([11, 2]);
  });

  test('a failing statement rolls the whole transaction back, and the error is its own, not "transaction aborted"', async () => {
    const failure = await t.db
      .transaction(async (q) => {
        await q.query('INSERT INTO tx_probe (k, v) VALUES ($1, 1)', ['c-first']);
        await runBatch(
          q,
          [
            { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, NULL)', params: ['c-violates'] },
            { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, 3)', params: ['c-after'], prepare: true },
          ],
          { last: true }
        );
      })
      .then(() => 'committed', (err: Error) => err.message);
    expect(failure).toMatch(/null value/);
    expect([await value('c-first'), await value('c-after')]).toEqual([undefined, undefined]);
  });
});

describe.runIf(process.env.DATABASE_URL)('a batch on PostgreSQL (needs DATABASE_URL)', () => {
  test('outside a transaction it is all or nothing', async () => {
    const batch = t.db.batch?.bind(t.db);
    expect(batch).toBeDefined();
    await expect(
      (batch as NonNullable<typeof batch>)([
        { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, 1)', params: ['d-first'], prepare: true },
        { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, NULL)', params: ['d-violates'] },
      ])
    ).rejects.toThrow(/null value/);
    expect(await value('d-first')).toBeUndefined();
  });

  test('a prepared statement named twice in one batch is parsed once and runs twice', async () => {
    const text = 'SELECT $1::int * 2 AS twice';
    const answers = await runBatch(t.db, [
      { sql: text, params: [2], prepare: true },
      { sql: text, params: [3], prepare: true },
    ]);
    expect(answers.map((r) => r.rows[0])).toEqual([{ twice: 4 }, { twice: 6 }]);
  });

  test('a prepared statement of a batch is parsed once on its connection, before the statements after it run', async () => {
    const text = 'SELECT $1::int + 1 AS next';
    const [first, seen] = await runBatch(t.db, [
      { sql: text, params: [41], prepare: true },
      { sql: 'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', params: [text] },
    ]);
    expect(first.rows).toEqual([{ next: 42 }]);
    expect(seen.rows).toEqual([{ n: 1 }]);
  });
});

describe.runIf(process.env.DATABASE_URL)('prepared statements after a failed batch (needs DATABASE_URL)', () => {
  test('a statement prepared in a batch that then failed runs again on the same connection, alone and in batches', async () => {
    const text = "SELECT $1::text || '-again' AS v";
    const answers = await t.db.unbounded(async (q) => {
      const failed = await runBatch(q, [
        { sql: text, params: ['first'], prepare: true },
        { sql: 'INSERT INTO tx_probe (k, v) VALUES ($1, NULL)', params: ['e-violates'] },
      ]).then(() => 'ran', (err: Error) => err.message);
      const alone = await q.query<{ v: string }>(text, ['alone'], { prepare: true });
      const batched = await runBatch(q, [
        { sql: text, params: ['one'], prepare: true },
        { sql: text, params: ['two'], prepare: true },
      ]);
      return [failed, alone.rows[0].v, ...batched.map((r) => r.rows[0].v)];
    });
    expect(answers[0]).toMatch(/null value/);
    expect(answers.slice(1)).toEqual(['alone-again', 'one-again', 'two-again']);
  });
});
