import { lookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { BlockList, isIP } from 'node:net';

/**
 * Where the server may connect when a client names a URL (a rest-hook endpoint, a JWK Set URL):
 * never into its own network (SSRF, OWASP
 * https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html).
 * No loopback, private, link-local, CGNAT, multicast or cloud-metadata address, checked on the
 * addresses a name resolves to, and the connection goes to exactly the address checked
 * (`pinnedLookup`: no DNS rebinding between the check and the connect). Hosts the operator allows
 * by configuration skip the address check. Knows nothing of who calls it.
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, includes 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['fd00:ec2::', 32], // AWS metadata over IPv6 (inside fc00::/7 too; kept for clarity)
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv6');
}

export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return BLOCKED.check(mapped[1], 'ipv4');
    return BLOCKED.check(address, 'ipv6');
  }
  return true;
}

/** The host as compared with allow lists: no IPv6 brackets, no trailing dot ('localhost.' is localhost), lower case. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();

/** A name that can only mean this machine or its private network, whatever DNS says. */
export const isLocalName = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal');

export type OutboundRefusal = 'unresolvable' | 'blocked';

/** Why a host may not be reached now (`unresolvable`, `blocked`), thrown by `resolvePublicAddress`. */
export class OutboundAddressError extends Error {
  readonly reason: OutboundRefusal;
  constructor(reason: OutboundRefusal) {
    super(reason === 'blocked' ? 'resolves to a private, loopback, link-local or metadata address' : 'could not be resolved');
    this.reason = reason;
  }
}

/**
 * Resolves the URL's host to the one address to connect to. Unless the host is allowed, every
 * address it resolves to must be public: a name that also resolves inward is refused outright.
 */
export async function resolvePublicAddress(url: URL, allowedHosts: readonly string[]): Promise<{ address: string; family: number }> {
  const host = hostOf(url);
  const allowed = allowedHosts.includes(host);
  const family = isIP(host);
  if (family) {
    if (!allowed && isBlockedAddress(host)) throw new OutboundAddressError('blocked');
    return { address: host, family };
  }
  if (!allowed && isLocalName(host)) throw new OutboundAddressError('blocked');
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    throw new OutboundAddressError('unresolvable');
  }
  if (addresses.length === 0) throw new OutboundAddressError('unresolvable');
  if (!allowed && addresses.some((a) => isBlockedAddress(a.address))) throw new OutboundAddressError('blocked');
  return addresses[0];
}

/** A `lookup` for http(s).request that answers only the address already checked. */
export function pinnedLookup(address: string, family: number): LookupFunction {
  return (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else cb(null, address, family);
  };
}
