import { expect, test } from 'vitest';
import { migrate } from '../db/migrate.ts';
import { unmigratedDatabase } from '../../../test/support/database.ts';
import { KEY_CHARS } from './index-key.ts';
import { Sql } from './search/sql.ts';
import { referenceCondition } from './search/sql-reference.ts';
import { stringCondition } from './search/sql-string.ts';
import { tokenConditions } from './search/sql-token.ts';
import { uriCondition } from './search/sql-uri.ts';
import type { ReferenceValue, StringValue, TokenValue, UriValue } from './search/types.ts';

// Migration 016 over index rows an older version wrote (values up to the old btree limit): the
// long ones move to the *_full columns and the searches of search/sql-key.ts find them.
test('016 moves index values longer than a key into the *_full columns, where searches find them', async () => {
  const { db, drop } = await unmigratedDatabase();
  try {
    await migrate(db, 15);
    const long = (c: string) => c.repeat(150) + 'é'.repeat(150) + 'end'; // 303 characters, 453 bytes
    await db.query(`INSERT INTO tenant (id, name) VALUES ('t', 'T')`);
    await db.query(`INSERT INTO idx_string (tenant, rtype, rid, param, grp, norm, exact) VALUES ('t', 'Patient', 'a', 'family', null, $1, $1), ('t', 'Patient', 'b', 'family', null, 'short', 'Short')`, [long('a')]);
    await db.query(`INSERT INTO idx_token (tenant, rtype, rid, param, grp, system, code, text) VALUES ('t', 'Patient', 'a', 'identifier', null, $1, $2, null)`, [long('s'), long('c')]);
    await db.query(`INSERT INTO idx_uri (tenant, rtype, rid, param, grp, value) VALUES ('t', 'Questionnaire', 'q', 'url', null, $1)`, [long('u')]);
    await db.query(`INSERT INTO idx_reference (tenant, rtype, rid, param, grp, url) VALUES ('t', 'Observation', 'o', 'subject', null, $1)`, [long('r')]);
    await migrate(db);

    const one = async (sql: string, build: (q: Sql) => string) => {
      const q = new Sql('t');
      const cond = build(q);
      return (await db.query<{ rid: string }>(`${sql} AND (${cond})`, q.params)).rows.map((r) => r.rid);
    };
    const str = (v: string, m?: string) => one(`SELECT rid FROM idx_string x WHERE x.tenant = $1`, (q) => stringCondition(q, 'x', { norm: v, exact: v } as StringValue, m));
    expect(await str(long('a'), 'exact')).toEqual(['a']);
    expect(await str(long('a').slice(0, 250))).toEqual(['a']);
    expect(await str('aaa')).toEqual(['a']);
    expect(await str('éend', 'contains')).toEqual(['a']);
    expect(await str('short')).toEqual(['b']);
    const tok = (system: string, code: string) => one(`SELECT rid FROM idx_token x WHERE x.tenant = $1`, (q) => tokenConditions(q, 'x', [{ kind: 'token', system, code } as TokenValue]));
    expect(await tok(long('s'), long('c'))).toEqual(['a']);
    expect(await tok(long('s'), long('c').slice(0, 300))).toEqual([]);
    expect(await one(`SELECT rid FROM idx_uri x WHERE x.tenant = $1`, (q) => uriCondition(q, 'x', { value: long('u') } as UriValue, undefined))).toEqual(['q']);
    expect(await one(`SELECT rid FROM idx_reference x WHERE x.tenant = $1`, (q) => referenceCondition(q, 'x', { url: long('r') } as ReferenceValue, ''))).toEqual(['o']);
    // What the btree indexes hold is bounded, whatever the value's length.
    const { rows } = await db.query<{ n: number }>(`SELECT max(length(norm))::int AS n FROM idx_string`);
    expect(rows[0].n).toBe(KEY_CHARS);
  } finally {
    await drop();
  }
});
