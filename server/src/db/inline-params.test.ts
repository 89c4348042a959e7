import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { runBatch } from './database.ts';
import { inlineParams } from './inline-params.ts';

// Statements sent as text (one round trip for several, or BEGIN with the first) must mean
// exactly what they mean with bind values: same rows, same types, no value read as SQL.
describe('inlineParams', () => {
  test('values become quoted literals; quotes, backslashes and comments of the statement are left alone', () => {
    expect(inlineParams("SELECT $1, '$2' AS x -- it's $3\n, $2::int", ["o'brien \\ x", 7])).toBe(
      "SELECT  E'o''brien \\\\ x', '$2' AS x -- it's $3\n, '7'::int"
    );
    expect(inlineParams('SELECT $1::text[], $2, $3', [['a', 'b,c', null], null, true])).toBe(`SELECT '{"a","b,c",NULL}'::text[], NULL, 'true'`);
    expect(() => inlineParams('SELECT $2', ['only one'])).toThrow(/no value/);
  });
});

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.query('CREATE TABLE inline_probe (k text PRIMARY KEY, n int, at timestamptz, tags text[])');
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

describe('a batch answers as its statements one by one', () => {
  test('reads, writes and hostile text', async () => {
    const hostile = "x'); DROP TABLE inline_probe; --";
    const rows = await t.db.transaction(async (q) => {
      const [, , read, count] = await runBatch(q, [
        { sql: 'INSERT INTO inline_probe (k, n, at, tags) VALUES ($1, $2, $3::timestamptz, $4::text[])', params: [hostile, 42, '2026-01-02T03:04:05.678Z', ['a', "b'c", '{d}']] },
        { sql: 'INSERT INTO inline_probe (k, n) VALUES ($1, $2)', params: ['plain', null] },
        { sql: 'SELECT k, n, at, tags FROM inline_probe WHERE k = ANY($1::text[]) ORDER BY k', params: [[hostile, 'plain']] },
        { sql: 'SELECT count(*) AS c FROM inline_probe WHERE n > $1', params: [41] },
      ]);
      return { read: read.rows, count: count.rows };
    });
    const direct = await t.db.query('SELECT k, n, at, tags FROM inline_probe WHERE k = ANY($1::text[]) ORDER BY k', [[hostile, 'plain']]);
    expect(rows.read).toEqual(direct.rows);
    expect(rows.read).toHaveLength(2);
    expect(rows.read.find((r) => r.k === hostile)?.tags).toEqual(['a', "b'c", '{d}']);
    expect(rows.count).toEqual([{ c: 1 }]);
  });

  test('a failing statement fails the batch and its transaction', async () => {
    await expect(
      t.db.transaction(async (q) => {
        await runBatch(q, [
          { sql: 'INSERT INTO inline_probe (k, n) VALUES ($1, $2)', params: ['rolled-back', 1] },
          { sql: 'INSERT INTO inline_probe (k, n) VALUES ($1, $2)', params: ['plain', 2] },
        ]);
      })
    ).rejects.toThrow();
    expect((await t.db.query('SELECT 1 FROM inline_probe WHERE k = $1', ['rolled-back'])).rows).toHaveLength(0);
  });
});
