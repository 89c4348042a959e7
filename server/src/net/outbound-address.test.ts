import { describe, expect, test } from 'vitest';
import { isBlockedAddress, resolvePublicAddress } from './outbound-address.ts';

describe('outbound addresses', () => {
  test('private, loopback, link-local, metadata and mapped addresses are blocked; public ones are not', () => {
    for (const a of ['127.0.0.1', '10.0.0.5', '172.16.3.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
      expect(isBlockedAddress(a)).toBe(true);
    }
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']) expect(isBlockedAddress(a)).toBe(false);
  });

  test('a blocked literal or local name is refused unless its host is allowed', async () => {
    await expect(resolvePublicAddress(new URL('http://127.0.0.1:9/x'), [])).rejects.toMatchObject({ reason: 'blocked' });
    await expect(resolvePublicAddress(new URL('http://localhost:9/x'), [])).rejects.toMatchObject({ reason: 'blocked' });
    await expect(resolvePublicAddress(new URL('http://127.0.0.1:9/x'), ['127.0.0.1'])).resolves.toEqual({ address: '127.0.0.1', family: 4 });
  });
});
