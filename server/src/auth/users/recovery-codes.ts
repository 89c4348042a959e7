import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';
import { base32Encode } from './totp.ts';

/**
 * Recovery codes: 10 single-use codes shown once at TOTP enrolment, for a lost authenticator.
 * Each is 10 base32 characters (50 random bits), so an unsalted sha256 is enough to store them:
 * they cannot be guessed from a dictionary, and each login attempt is also rate limited.
 */
export const RECOVERY_CODE_COUNT = 10;

const hash = (code: string) => createHash('sha256').update(normalize(code)).digest('base64url');
const normalize = (code: string) => code.toUpperCase().replace(/[^A-Z2-7]/g, '');

export async function issueRecoveryCodes(db: Queryable, tenant: string, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const c = base32Encode(randomBytes(7)).slice(0, 10);
    return `${c.slice(0, 5)}-${c.slice(5)}`;
  });
  await db.query('DELETE FROM user_recovery_code WHERE tenant = $1 AND user_id = $2', [tenant, userId]);
  for (const c of codes) {
    await db.query('INSERT INTO user_recovery_code (tenant, user_id, code_hash) VALUES ($1, $2, $3)', [tenant, userId, hash(c)]);
  }
  return codes;
}

/** Marks the code used; true only the first time a valid code is given. */
export async function useRecoveryCode(db: Queryable, tenant: string, userId: string, code: string): Promise<boolean> {
  if (normalize(code).length !== 10) return false;
  const r = await db.query(
    'UPDATE user_recovery_code SET used_at = now() WHERE tenant = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL RETURNING 1',
    [tenant, userId, hash(code)]
  );
  return r.rows.length === 1;
}
