import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Equality of two secrets-derived strings (TOTP codes, PKCE challenges) in time that does not
 * depend on where they first differ. Both are hashed first so that their lengths, which
 * timingSafeEqual requires to be equal, do not leak either.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
