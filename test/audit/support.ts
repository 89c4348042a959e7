import type { AuditEvent } from '@medplum/fhirtypes';
import type { Database } from '../../server/src/db/database.ts';

/** Every AuditEvent of a tenant, read with SQL (no audit of the read itself), oldest first. */
export async function auditEvents(db: Database, tenant = 'test'): Promise<AuditEvent[]> {
  const { rows } = await db.query<{ content: string }>(
    `SELECT r.content FROM audit_event r JOIN audit_chain c ON c.tenant = r.tenant AND c.id = r.id
     WHERE r.tenant = $1 ORDER BY c.seq`,
    [tenant]
  );
  return rows.map((r) => JSON.parse(r.content) as AuditEvent);
}

/** Waits (read audits are buffered ~100 ms) until some AuditEvent matches, and returns the matches. */
export async function waitForAudit(db: Database, match: (e: AuditEvent) => boolean, tenant = 'test', timeoutMs = 5000): Promise<AuditEvent[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = (await auditEvents(db, tenant)).filter(match);
    if (found.length || Date.now() > until) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const subtypeOf = (e: AuditEvent): string | undefined => e.subtype?.[0]?.code;
export const whats = (e: AuditEvent): string[] => (e.entity ?? []).flatMap((x) => (x.what?.reference ? [x.what.reference] : []));
export const patientsOf = (e: AuditEvent): string[] =>
  (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference as string).sort();
export const queryOf = (e: AuditEvent): string | undefined => {
  const q = e.entity?.find((x) => x.query)?.query;
  return q === undefined ? undefined : Buffer.from(q, 'base64').toString('utf8');
};
