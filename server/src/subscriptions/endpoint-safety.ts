import { isIP } from 'node:net';
import { OutboundAddressError, hostOf, isBlockedAddress, isLocalName, resolvePublicAddress } from '../net/outbound-address.ts';

/**
 * Where a rest-hook may POST. A Subscription names a URL the server will call with PHI on behalf
 * of a client, so the server must not become a way into its own network (SSRF, OWASP
 * https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html):
 * - https only, except hosts the operator allows (config.subscriptionAllowedHosts, env
 *   SUBSCRIPTION_ALLOWED_HOSTS), which may also use http (the Backport IG strongly recommends
 *   refusing http: https://hl7.org/fhir/uv/subscriptions-backport/channels.html#security-notes);
 * - no loopback, private, link-local, CGNAT, multicast or cloud-metadata address, checked on the
 *   addresses the name resolves to at send time, and the connection goes to exactly the address
 *   checked (no DNS rebinding between the check and the connect), unless the host is allowed
 *   (the address rules live in ../net/outbound-address.ts, shared with client JWK Set URLs).
 */
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
  if (!allowed && isLocalName(host)) return 'points at a local host name';
  return undefined;
}

/**
 * Resolves the endpoint's host for a send: the address to connect to, or an Error (no detail from
 * the network) when the endpoint is not allowed now.
 */
export async function resolveEndpoint(url: URL, allowedHosts: readonly string[]): Promise<{ address: string; family: number }> {
  const problem = endpointProblem(url.toString(), allowedHosts);
  if (problem) throw new Error(`endpoint ${problem}`);
  try {
    return await resolvePublicAddress(url, allowedHosts);
  } catch (err) {
    if (err instanceof OutboundAddressError && err.reason === 'blocked') {
      throw new Error('endpoint resolves to a private, loopback, link-local or metadata address');
    }
    throw new Error('endpoint host could not be resolved');
  }
}
