import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { checkPkce } from './check-pkce.ts';

const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'; // RFC 7636 Appendix B
const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

describe('checkPkce (RFC 7636 §4.6, S256 only)', () => {
  test('the RFC 7636 Appendix B example passes', () => {
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge);
    expect(() => checkPkce(verifier, challenge)).not.toThrow();
  });
  test.each([
    ['missing', undefined],
    ['blank', '   '],
    ['empty', ''],
    ['too short', 'abc'],
    ['bad characters', `${verifier}!`],
    ['wrong', `${verifier.slice(0, -1)}Y`],
    ['plain (the challenge itself)', challenge],
  ])('%s → invalid_grant', (_name, v) => {
    expect(() => checkPkce(v, challenge)).toThrow(expect.objectContaining({ error: 'invalid_grant' }));
  });
});
