import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../../test/support/database.ts';
import { Sql, textArray } from './sql.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(async () => {
  await t.drop();
});

// A caseload named in several places of one statement is sent, and parsed by PostgreSQL, once.
test('a list named again with the same cast is the same parameter; anything else is a new one', () => {
  const q = new Sql('t');
  const caseload = ['a', 'b'];
  expect(q.p(caseload, 'text[]')).toBe('$2::text[]');
  expect(q.p('x')).toBe('$3');
  expect(q.p(caseload, 'text[]')).toBe('$2::text[]');
  // An equal but different list, the same list untyped, and a repeated scalar are new parameters.
  expect(q.p(['a', 'b'], 'text[]')).toBe('$4::text[]');
  expect(q.p(caseload)).toBe('$5');
  expect(q.p('x')).toBe('$6');
  expect(q.params).toEqual(['t', caseload, 'x', ['a', 'b'], caseload, 'x']);
});

// access.ts drops the parameters of a part that folded to TRUE or FALSE: a list added there must
// not be named again by a later part.
test('a list whose parameter was dropped is added again', () => {
  const q = new Sql('t');
  const caseload = ['a'];
  const mark = q.params.length;
  q.p(caseload, 'text[]');
  q.params.length = mark;
  q.p('y');
  expect(q.p(caseload, 'text[]')).toBe('$3::text[]');
  expect(q.params).toEqual(['t', 'y', caseload]);
});

test('an array literal reads back as the list it was made of, quotes and backslashes included', async () => {
  const ids = ['8d498efb-502b-4884-82a8-2ae401ed3ef1', 'with"quote', 'back\\slash', 'comma,and space', ''];
  const literal = textArray(ids);
  expect(textArray(ids)).toBe(literal);
  const { rows } = await t.db.query<{ v: string[] }>('SELECT $1::text[] AS v', [literal]);
  expect(rows[0].v).toEqual(ids);
});
