import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test/support/database.ts';
import { scopePolicy } from '../access/policy.ts';
import type { Database } from '../db/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { INDEX_TABLES } from './index-rows.ts';
import { indexResource } from './indexer.ts';
import { Repository } from './repository.ts';
import { writeVersions } from './write.ts';

/**
 * An update deletes and inserts only the index rows that differ between the version it replaces
 * and the new one (./write.ts): what is stored afterwards must still be exactly the new version's
 * rows, as a multiset (a value indexed twice stays twice), whatever was stored before.
 */
const BASE = 'http://x/fhir/R4';
const COLS: Record<(typeof INDEX_TABLES)[number], string[]> = {
  token: ['system', 'system_full', 'code', 'code_full', 'text'],
  string: ['norm', 'norm_full', 'exact'],
  date: ["to_char(low AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')", "to_char(high AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"],
  number: ['low::float8', 'high::float8'],
  quantity: ['low::float8', 'high::float8', 'system', 'code', 'unit', 'canon_code', 'canon_low::float8', 'canon_high::float8'],
  reference: ['target_type', 'target_id', 'url', 'url_full'],
  uri: ['value', 'value_full'],
};

describe('index rows of an update', () => {
  let db: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    loadDefinitions();
    ({ db, drop } = await freshDatabase());
  });
  afterAll(async () => drop?.());

  const repo = () =>
    new Repository(db, { tenant: 't1', access: scopePolicy('t1', 'app', 'system/*.cruds'), fhirBase: BASE, lenient: false, defaultCount: 20, maxCount: 100 });

  /** Every stored index row of the resource, as sorted text. */
  async function stored(id: string): Promise<string[]> {
    const out: string[] = [];
    for (const t of INDEX_TABLES) {
      const { rows } = await db.query<{ r: string }>(
        `SELECT concat_ws('|', '${t}', param, coalesce(grp::text, '∅'), ${COLS[t].map((c) => `coalesce((${c})::text, '∅')`).join(', ')}) AS r
         FROM idx_${t} WHERE tenant = 't1' AND rtype = 'Observation' AND rid = $1`,
        [id]
      );
      out.push(...rows.map((r) => r.r));
    }
    return out.sort();
  }

  /** The rows a fresh write of `o` stores (written under another id, then read back). */
  async function expected(o: Observation): Promise<string[]> {
    const { id: _id, meta: _meta, ...rest } = o;
    const copy = await repo().createResource<Observation>(rest);
    return stored(copy.id);
  }

  const coding = (code: string) => ({ system: 'http://loinc.org', code, display: `d ${code}` });

  it('keeps what is unchanged, replaces what changed, keeps duplicates as duplicates', async () => {
    const r = repo();
    const v1 = await r.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [coding('1'), coding('2')] },
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: '2024-01-02',
      valueQuantity: { value: 1.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    });
    expect(await stored(v1.id)).toEqual(await expected(v1));
    // One element changes: one token row differs, the others are not rewritten (same tuples).
    const tuples = `SELECT ctid::text AS c FROM idx_token WHERE tenant = 't1' AND rtype = 'Observation' AND rid = $1 AND param = 'code' ORDER BY 1`;
    const codeRows = (await db.query<{ c: string }>(tuples, [v1.id])).rows;
    const v2 = await r.updateResource<Observation>({ ...v1, status: 'amended' }, { ifMatch: '1' });
    expect(await stored(v1.id)).toEqual(await expected(v2));
    expect((await db.query<{ c: string }>(tuples, [v1.id])).rows).toEqual(codeRows);
    // The same coding twice (two identical rows), a new date, another subject, no quantity.
    const { valueQuantity: _q, ...rest } = v2;
    const v3 = await r.updateResource<Observation>({ ...rest, code: { coding: [coding('2'), coding('2'), coding('3')] }, effectiveDateTime: '2025-03-04', subject: { reference: 'Patient/p2' } });
    expect(await stored(v1.id)).toEqual(await expected(v3));
    expect((await stored(v1.id)).filter((x) => x.startsWith('token|code|∅|http://loinc.org|∅|2|')).length).toBe(2);
    // Back to one of them: one of the two identical rows goes.
    const v4 = await r.updateResource<Observation>({ ...v3, code: { coding: [coding('2')] } });
    expect(await stored(v1.id)).toEqual(await expected(v4));
    // Nothing changes: nothing to delete or insert, the rows stay.
    const v5 = await r.updateResource<Observation>({ ...v4 });
    expect(v5.meta?.versionId).toBe('5');
    expect(await stored(v1.id)).toEqual(await expected(v5));
  });

  it('replaces rows that differ from what the indexer makes now (an older version of the rows)', async () => {
    const r = repo();
    const v1 = await r.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { coding: [coding('7')] } });
    const right = await stored(v1.id);
    // Rows as an older indexer might have stored them: a display text that differs, one extra row.
    await db.query(`UPDATE idx_token SET text = 'old text' WHERE tenant = 't1' AND rtype = 'Observation' AND rid = $1 AND param = 'code'`, [v1.id]);
    await db.query(`INSERT INTO idx_token (tenant, rtype, rid, param, grp, code) VALUES ('t1', 'Observation', $1, 'stale', NULL, 'x')`, [v1.id]);
    expect(await stored(v1.id)).not.toEqual(right);
    const v2 = await r.updateResource<Observation>({ ...v1 });
    expect(await stored(v1.id)).toEqual(await expected(v2));
  });

  it('writes nothing when the guard fails, and a delete removes every row', async () => {
    const r = repo();
    const v1 = await r.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { coding: [coding('9')] } });
    const before = await stored(v1.id);
    const next = { ...v1, status: 'amended' as const, meta: { versionId: '2', lastUpdated: new Date().toISOString() } };
    const write = { type: 'Observation', id: v1.id, version: 2, lastUpdated: next.meta.lastUpdated, deleted: false, method: 'PUT' as const, content: JSON.stringify(next), index: indexResource(next, BASE), exists: true };
    expect(await writeVersions(db, 't1', [write], 7)).toBe(false);
    expect(await stored(v1.id)).toEqual(before);
    await r.deleteResource('Observation', v1.id);
    expect(await stored(v1.id)).toEqual([]);
  });
});
