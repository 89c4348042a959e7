import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.ts';

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
