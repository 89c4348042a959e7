import type { AuditEvent } from '@medplum/fhirtypes';
import type { Queryable, Statement } from '../db/database.ts';
import { type AuditRow, auditInsert, auditKeys } from '../store/audit-table.ts';
import { dateRange } from '../store/date-range.ts';
import { auditIndexRows } from './audit-index.ts';

/**
 * How AuditEvents reach the database: as rows of their own append-only table (store/audit-table.ts,
 * db/migrations/023-audit-table.sql), written by the server itself — never through the
 * repository's create, which refuses AuditEvent for every caller (./write-hook.ts). The database
 * adds each to the tenant's hash chain by trigger. One version forever: history and vread read
 * the same row.
 */
export function auditRow(e: AuditEvent): AuditRow {
  const recorded = dateRange(e.recorded as string);
  if (!recorded) throw new Error('an AuditEvent needs its recorded instant');
  return {
    id: e.id as string,
    recorded: recorded.low,
    recordedHigh: recorded.high,
    lastUpdated: e.meta?.lastUpdated as string,
    keys: auditKeys(auditIndexRows(e)),
    content: JSON.stringify(e),
  };
}

/** The statement storing AuditEvents of one tenant (a transaction's own goes out with its commit). */
export function auditStatement(tenant: string, events: AuditEvent[]): Statement {
  return auditInsert(tenant, events.map(auditRow));
}

/** Stores AuditEvents of one tenant in one statement. */
export async function insertAuditEvents(q: Queryable, tenant: string, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  const { sql, params, prepare } = auditStatement(tenant, events);
  await q.query(sql, params, { prepare });
}
