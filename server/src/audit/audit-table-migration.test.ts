import type { AuditEvent } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { unmigratedDatabase } from '../../../test/support/database.ts';
import { tenantAdminPolicy } from '../access/policy.ts';
import { migrate } from '../db/migrate.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { search } from '../store/search/index.ts';
import { keyColumns } from '../store/index-key.ts';
import { restAuditEvent } from './audit-event.ts';
import { auditIndexRows } from './audit-index.ts';
import { auditRow } from './audit-store.ts';
import { sealTenant, verifyChain } from './hash-chain.ts';

// Migration 023 over AuditEvents an older version stored as `resource` rows with index rows:
// they move to audit_event with the keys the current code would give them, the record's tables
// keep none, and their chain rows (entered before the move) chain them.
test('023 moves stored AuditEvents into audit_event with their keys and content; the chain holds them', async () => {
  loadDefinitions();
  const { db, drop } = await unmigratedDatabase();
  try {
    await migrate(db, 22);
    await db.query(`INSERT INTO tenant (id, name) VALUES ('t', 'T')`);
    const person = { tenant: 't', clientId: 'app', scope: 'user/*.rs', userId: 'u1', fhirUser: 'Practitioner/p1', roles: ['clinician' as const] };
    const payer = { tenant: 't', clientId: 'payer', scope: 'system/*.rs', organization: 'Organization/payer', purposeOfUse: 'HPAYMT' };
    const events: AuditEvent[] = [
      restAuditEvent({ tenant: 't', context: person, interaction: 'read', status: 200, what: ['Observation/o1/_history/2'], patients: ['a'] }),
      restAuditEvent({ tenant: 't', context: { ...person, clientId: 'c'.repeat(600) }, interaction: 'search-type', status: 200, query: 'x=1', patients: ['a', 'b'] }),
      restAuditEvent({ tenant: 't', context: payer, interaction: 'search-type', status: 200, query: 'subject=Patient/b', patients: ['b'], disclosed: { resources: [{ reference: 'Observation/o2/_history/1', patients: ['b'] }], more: 0 } }),
    ];
    // As the code before 023 stored them: a `resource` row (whose trigger entered the chain) and
    // the index rows of audit-index.ts, long values split as index-key.ts splits them.
    for (const e of events) {
      await db.query(`INSERT INTO resource (tenant, type, id, version, last_updated, deleted, content) VALUES ('t', 'AuditEvent', $1, 1, $2, false, $3)`, [e.id, e.meta?.lastUpdated, JSON.stringify(e)]);
      const rows = auditIndexRows(e);
      for (const t of rows.token) {
        await db.query(`INSERT INTO idx_token (tenant, rtype, rid, param, grp, system, system_full, code, code_full, text) VALUES ('t', 'AuditEvent', $1, $2, null, $3, $4, $5, $6, $7)`, [e.id, t.param, ...keyColumns(t.system), ...keyColumns(t.code), t.text]);
      }
      for (const r of rows.reference) {
        await db.query(`INSERT INTO idx_reference (tenant, rtype, rid, param, grp, target_type, target_id, url, url_full) VALUES ('t', 'AuditEvent', $1, $2, null, $3, $4, $5, $6)`, [e.id, r.param, r.targetType, r.targetId, ...keyColumns(r.url)]);
      }
      for (const d of rows.date) await db.query(`INSERT INTO idx_date (tenant, rtype, rid, param, grp, low, high) VALUES ('t', 'AuditEvent', $1, $2, null, $3, $4)`, [e.id, d.param, d.low, d.high]);
    }
    expect((await db.query(`SELECT 1 FROM audit_chain WHERE tenant = 't' AND hash IS NULL`)).rows).toHaveLength(3);

    await migrate(db);
    // Their chain rows stay; sealed now, the chain holds them, with content unchanged by the move.
    expect(await sealTenant(db, 't')).toBe(3);
    const { rows } = await db.query<{ id: string; keys: string[]; recorded: string; content: string }>(
      `SELECT id, keys, to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded, content FROM audit_event WHERE tenant = 't'`
    );
    expect(rows).toHaveLength(3);
    for (const e of events) {
      const row = rows.find((r) => r.id === e.id);
      const want = auditRow(e);
      expect(new Set(row?.keys)).toEqual(new Set(want.keys));
      expect(row?.recorded).toBe(want.recorded);
      expect(row?.content).toBe(want.content);
    }
    for (const table of ['resource', 'resource_history']) {
      expect((await db.query(`SELECT 1 FROM ${table} WHERE type = 'AuditEvent'`)).rows, table).toHaveLength(0);
    }
    for (const t of ['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri']) {
      expect((await db.query(`SELECT 1 FROM idx_${t} WHERE rtype = 'AuditEvent'`)).rows, t).toHaveLength(0);
    }
    expect(await verifyChain(db, 't')).toMatchObject({ ok: true, checked: 3, unsealed: 0 });

    // Searchable as the current code writes them, the hashed key of a long client id included.
    const ctx = { tenant: 't', fhirBase: 'http://x/fhir/R4', access: tenantAdminPolicy('t'), lenient: false, defaultCount: 20, maxCount: 100 };
    const ids = async (q: [string, string][]) => ((await search(db, ctx, 'AuditEvent', q)).entry ?? []).map((x) => x.resource?.id).sort();
    expect(await ids([['patient', 'Patient/b']])).toEqual([events[1].id, events[2].id].sort());
    expect(await ids([['agent:identifier', `http://bh-fhir.org/fhir/sid/oauth-client-id|${'c'.repeat(600)}`]])).toEqual([events[1].id]);
    expect(await ids([['subtype', 'disclosure'], ['entity', 'Observation/o2']])).toEqual([events[2].id]);
  } finally {
    await drop();
  }
});
