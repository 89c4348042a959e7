import type { Database, Queryable } from './database.ts';
import { type SecretBox, isSealed, secretBoxOf, secretContext } from './secret-box.ts';

/**
 * Every column that holds a secret the server must read back (hashes need no key: they are
 * never read back). The row key is part of each value's authenticated context (secret-box.ts).
 */
export const SECRET_COLUMNS = [
  { table: 'signing_key', column: 'private_jwk', key: ['kid'] },
  { table: 'app_user', column: 'totp_secret', key: ['tenant', 'id'] },
  { table: 'user_session', column: 'pending_totp_secret', key: ['id'] },
] as const;

/**
 * Encrypts what is still plain text (rows written before secrets were encrypted) and, with
 * `rekey`, re-encrypts what an older key wrote under the current key. One transaction under a
 * lock, so processes starting together do it once. Returns the rows changed per column.
 */
export async function sealSecrets(db: Database, options: { rekey?: boolean } = {}): Promise<Record<string, number>> {
  const box = secretBoxOf(db);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(424244)');
    const changed: Record<string, number> = {};
    for (const c of SECRET_COLUMNS) changed[`${c.table}.${c.column}`] = await sealColumn(tx, box, c, options.rekey ?? false);
    return changed;
  });
}

async function sealColumn(tx: Queryable, box: SecretBox, c: (typeof SECRET_COLUMNS)[number], rekey: boolean): Promise<number> {
  const keyCols = c.key.join(', ');
  // Plain text never starts with the sealed prefix (JWK JSON, base32); the filter keeps start-up cheap.
  const where = rekey ? `${c.column} NOT LIKE $1` : `${c.column} NOT LIKE 'enc1.%'`;
  const rows = (
    await tx.query<Record<string, string>>(
      `SELECT ${keyCols}, ${c.column} AS value FROM ${c.table} WHERE ${c.column} IS NOT NULL AND ${where}`,
      rekey ? [`enc1.${box.current.id}.%`] : []
    )
  ).rows;
  for (const row of rows) {
    const rowKey = c.key.map((k) => row[k]);
    const context = secretContext(c.table, c.column, ...rowKey);
    const plain = isSealed(row.value) ? box.open(row.value, context) : row.value;
    await tx.query(
      `UPDATE ${c.table} SET ${c.column} = $1 WHERE ${c.key.map((k, i) => `${k} = $${i + 2}`).join(' AND ')}`,
      [box.seal(plain, context), ...rowKey]
    );
  }
  return rows.length;
}
