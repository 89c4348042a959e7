import type { AuditEvent } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.ts';
import { type VersionWrite, writeVersions } from '../store/write.ts';
import { auditIndexRows } from './audit-index.ts';

/**
 * How AuditEvents reach the database: as ordinary resources (the current row and index rows, so
 * FHIR search finds them), written by the server itself through `writeVersions` — never through
 * the repository's create, which refuses AuditEvent for every caller (./write-hook.ts). The
 * database adds each to the tenant's hash chain by trigger (db/migrations/006-audit.sql).
 * No resource_history row: an AuditEvent has one version forever (append-only), so history and
 * vread read it from its current row (store/history.ts), and one copy of the JSON is written
 * instead of two (AuditEvents stored before this have both; the chain verifier compares them).
 */

export function auditVersions(events: AuditEvent[]): VersionWrite[] {
  return events.map((e) => ({
    type: 'AuditEvent',
    id: e.id as string,
    version: 1,
    lastUpdated: e.meta?.lastUpdated as string,
    deleted: false,
    method: 'POST',
    content: JSON.stringify(e),
    index: auditIndexRows(e),
    exists: false,
    history: false,
  }));
}

/** Stores AuditEvents of one tenant in one statement. */
export async function insertAuditEvents(q: Queryable, tenant: string, events: AuditEvent[]): Promise<void> {
  if (events.length) await writeVersions(q, tenant, auditVersions(events));
}
