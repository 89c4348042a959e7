import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InvalidClient, InvalidRequest, InvalidScope, OAUTH_ERRORS, UnsupportedGrantType, errorBody } from './errors.ts';

describe('OAuth errors', () => {
  test('codes and statuses are those of RFC 6749 §5.2', () => {
    expect([new InvalidRequest('x'), new InvalidClient('x'), new UnsupportedGrantType('x'), new InvalidScope('x')].map((e) => [e.error, e.status])).toEqual([
      ['invalid_request', 400],
      ['invalid_client', 401],
      ['unsupported_grant_type', 400],
      ['invalid_scope', 400],
    ]);
  });

  test('the wire body has error and error_description only', () => {
    expect(errorBody(new InvalidScope('nope'))).toEqual({ error: 'invalid_scope', error_description: 'nope' });
  });

  test('every code we can emit is documented in README.md', () => {
    const readme = readFileSync(join(import.meta.dirname, 'README.md'), 'utf8');
    for (const E of OAUTH_ERRORS) {
      const e = new E('x');
      expect(readme, e.error).toMatch(new RegExp(`\\| \`${e.error}\` \\| ${e.status} \\|`));
    }
  });
});
