import { describe, expect, test } from 'vitest';
import { constantTimeEqual } from './constant-time.ts';

describe('constantTimeEqual', () => {
  test('equal strings match; any difference, including length, does not (and never throws)', () => {
    expect(constantTimeEqual('123456', '123456')).toBe(true);
    expect(constantTimeEqual('123456', '123457')).toBe(false);
    expect(constantTimeEqual('123456', '1234567')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
  });
});
