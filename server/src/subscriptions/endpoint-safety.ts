import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where a rest-hook may POST. A Subscription names a URL the server will call with PHI on behalf
 * of a client, so the server must not become a way into its own network (SSRF, OWASP
 * https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html):
 * - https only, except hosts the operator allows (config.subscriptionAllowedHosts, env
 *   SUBSCRIPTION_ALLOWED_HOSTS), which may also use http (the Backport IG strongly recommends
 *   refusing http: https://hl7.org/fhir/uv/subscriptions-backport/channels.html#security-notes);
 * - no loopback, private, link-local, CGNAT, multicast or cloud-metadata address, checked on the
 *   addresses the name resolves to at send time, and the connection goes to exactly the address
 *   checked (no DNS rebinding between the check and the connect), unless the host is allowed.
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

// A trailing dot names the same host ('localhost.' is localhost).
const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();

/**
 * The check made when a Subscription is written: returns why the endpoint is refused (our words),
 * or undefined when it may be used. Names are resolved only at send time.
 */
export function endpointProblem(endpoint: string, allowedHosts: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.username || url.password) return 'must not carry credentials (use channel.header)';
  const host = hostOf(url);
  const allowed = allowedHosts.includes(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) return 'must use https';
  if (!allowed && isIP(host) && isBlockedAddress(host)) return 'points at a private, loopback, link-local or metadata address';
  if (!allowed && (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal'))) return 'points at a local host name';
  return undefined;
}

/**
 * Resolves the endpoint's host for a send: the address to connect to, or an Error (no detail from
 * the network) when the endpoint is not allowed now.
 */
export async function resolveEndpoint(url: URL, allowedHosts: readonly string[]): Promise<{ address: string; family: number }> {
  const problem = endpointProblem(url.toString(), allowedHosts);
  if (problem) throw new Error(`endpoint ${problem}`);
  const host = hostOf(url);
  const allowed = allowedHosts.includes(host);
  const family = isIP(host);
  if (family) return { address: host, family };
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    throw new Error('endpoint host could not be resolved');
  }
  if (addresses.length === 0) throw new Error('endpoint host could not be resolved');
  // Every address must be acceptable: a name that also resolves inward is refused outright.
  if (!allowed && addresses.some((a) => isBlockedAddress(a.address))) {
    throw new Error('endpoint resolves to a private, loopback, link-local or metadata address');
  }
  return addresses[0];
}
