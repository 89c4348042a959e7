import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

/**
 * The per-tenant hash chain over AuditEvents (DESIGN.md: "hash-chained, append-only").
 *
 * Writers never touch the chain: inserting an AuditEvent row adds an unsealed `audit_chain` row
 * (seq from a sequence, no lock) in the writer's own transaction, so audit never serializes a
 * tenant's writes. After commit the sealer takes the tenant's advisory lock and links the
 * committed unsealed rows in seq order: pos = last pos + 1, hash = sha256(prev hash, pos, content).
 *
 * Window: an AuditEvent is unsealed from its commit until the next seal (normally ~250 ms; after a
 * crash, until the next seal of that tenant, which every server start runs). During that window
 * a database superuser could alter it without breaking the chain; afterwards any change to a
 * sealed event or the chain breaks verification. Removing the newest sealed
 * events (truncating the tail) is not detectable from inside the database: for that, export the
 * head hash (`audit verify` prints it) to somewhere the database administrator cannot write.
 */
const LOCK_CLASS = 4243; // pg_advisory_xact_lock(LOCK_CLASS, hashtext(tenant)): one sealer per tenant
const GENESIS = '0'.repeat(64);
const BATCH = 1000;

export function linkHash(prev: string, pos: number, content: string): string {
  return createHash('sha256').update(prev).update('\n').update(String(pos)).update('\n').update(content).digest('hex');
}

/** Seals every committed, unsealed AuditEvent of every tenant. Returns how many it sealed. */
export async function sealPending(db: Database): Promise<number> {
  const { rows } = await db.query<{ tenant: string }>('SELECT DISTINCT tenant FROM audit_chain WHERE hash IS NULL');
  let n = 0;
  for (const { tenant } of rows) n += await sealTenant(db, tenant);
  return n;
}

export async function sealTenant(db: Database, tenant: string): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [LOCK_CLASS, tenant]);
      const head = await tx.query<{ pos: string; hash: string }>(
        'SELECT pos, hash FROM audit_chain WHERE tenant = $1 AND pos IS NOT NULL ORDER BY pos DESC LIMIT 1',
        [tenant]
      );
      let pos = Number(head.rows[0]?.pos ?? 0);
      let prev = head.rows[0]?.hash ?? GENESIS;
      const { rows } = await tx.query<{ seq: string; content: string }>(
        `SELECT c.seq, r.content FROM audit_chain c
         JOIN audit_event r ON r.tenant = c.tenant AND r.id = c.id
         WHERE c.tenant = $1 AND c.hash IS NULL ORDER BY c.seq LIMIT ${BATCH}`,
        [tenant]
      );
      if (rows.length === 0) return 0;
      const seqs: string[] = [];
      const positions: number[] = [];
      const hashes: string[] = [];
      for (const row of rows) {
        pos += 1;
        prev = linkHash(prev, pos, row.content);
        seqs.push(row.seq);
        positions.push(pos);
        hashes.push(prev);
      }
      await tx.query(
        `UPDATE audit_chain c SET pos = u.pos, hash = u.hash, sealed_at = now()
         FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS u(seq, pos, hash)
         WHERE c.tenant = $1 AND c.seq = u.seq`,
        [tenant, seqs, positions, hashes]
      );
      return rows.length;
    });
    total += n;
    if (n < BATCH) return total;
  }
}

export interface ChainReport {
  ok: boolean;
  /** Sealed links checked. */
  checked: number;
  /** AuditEvents not yet sealed (inside the window). */
  unsealed: number;
  /** Hash of the last good link: record it elsewhere to detect a truncated tail later. */
  head?: string;
  /** The first broken link, if any. */
  broken?: { pos: number; id: string; reason: string };
}

/**
 * Walks a tenant's chain from the start and reports the first broken link: a missing position,
 * a missing AuditEvent, or a hash mismatch.
 */
export async function verifyChain(db: Queryable, tenant: string): Promise<ChainReport> {
  let prev = GENESIS;
  let expected = 1;
  let checked = 0;
  for (;;) {
    const { rows } = await db.query<{ pos: string; id: string; hash: string; content: string | null }>(
      `SELECT c.pos, c.id, c.hash, r.content FROM audit_chain c
       LEFT JOIN audit_event r ON r.tenant = c.tenant AND r.id = c.id
       WHERE c.tenant = $1 AND c.pos >= $2 ORDER BY c.pos LIMIT ${BATCH}`,
      [tenant, expected]
    );
    for (const row of rows) {
      const pos = Number(row.pos);
      const broken = (reason: string): ChainReport => ({ ok: false, checked, unsealed: 0, head: checked ? prev : undefined, broken: { pos: expected, id: row.id, reason } });
      if (pos !== expected) return withUnsealed(db, tenant, broken(`link ${expected} is missing`));
      if (row.content === null) return withUnsealed(db, tenant, broken('the AuditEvent is missing'));
      const h = linkHash(prev, pos, row.content);
      if (h !== row.hash) return withUnsealed(db, tenant, broken('hash mismatch: the AuditEvent or the chain was changed'));
      prev = h;
      expected += 1;
      checked += 1;
    }
    if (rows.length < BATCH) break;
  }
  return withUnsealed(db, tenant, { ok: true, checked, unsealed: 0, head: checked ? prev : undefined });
}

async function withUnsealed(db: Queryable, tenant: string, report: ChainReport): Promise<ChainReport> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_chain WHERE tenant = $1 AND hash IS NULL', [tenant]);
  return { ...report, unsealed: rows[0].n };
}
