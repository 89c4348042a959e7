import http from 'node:http';
import https from 'node:https';
import type { JWK } from 'jose';
import { pinnedLookup, resolvePublicAddress } from '../net/outbound-address.ts';
import { InvalidClient } from './errors.ts';
import type { OAuthClient } from './clients.ts';

/**
 * Finding the public key that should verify a client's authentication JWT, following
 * SMART client-confidential-asymmetric, "Signature Verification":
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html#signature-verification
 *
 * 1. If `jku` is present it must match the JWK Set URL registered for the client, else
 *    "the signature verification fails"; the keys come from dereferencing that URL.
 * 2. If `jku` is absent, the keys come from the registered JWK Set or the registered URL.
 * 3. Keep the single key whose `kid` matches and whose `kty` fits the algorithm;
 *    none or more than one fails.
 */
export async function resolveClientKey(
  client: OAuthClient,
  header: { kid: string; alg: string; jku?: string },
  remote: RemoteJwks
): Promise<JWK> {
  let keys: JWK[];
  if (header.jku !== undefined) {
    // Exact string comparison: no normalization that an attacker could play with.
    if (client.jwksUri === undefined || header.jku !== client.jwksUri) {
      throw new InvalidClient('The jku header does not match the JWK Set URL registered for this client');
    }
  }
  if (client.jwksUri !== undefined) {
    keys = await remote.keys(client.jwksUri);
    if (!hasCandidate(keys, header)) {
      // The client may have rotated its keys since we cached its set: look once more.
      keys = await remote.keys(client.jwksUri, { refresh: true });
    }
  } else {
    keys = client.jwks?.keys ?? [];
  }
  const candidates = keys.filter((k) => fits(k, header));
  if (candidates.length === 0) throw new InvalidClient(`No registered key has kid "${clip(header.kid)}" and suits ${header.alg}`);
  if (candidates.length > 1) throw new InvalidClient(`More than one registered key has kid "${clip(header.kid)}"`);
  return candidates[0];
}

/** Echo at most a short prefix of client-supplied text. */
function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

function hasCandidate(keys: JWK[], header: { kid: string; alg: string }): boolean {
  return keys.some((k) => fits(k, header));
}

/** kid matches; kty suits the algorithm; and `use`, `alg`, `key_ops`, when the JWK has them, allow verifying with it. */
function fits(k: JWK, header: { kid: string; alg: string }): boolean {
  if (k.kid !== header.kid) return false;
  const kty = header.alg.startsWith('RS') || header.alg.startsWith('PS') ? 'RSA' : header.alg.startsWith('ES') ? 'EC' : undefined;
  if (k.kty !== kty) return false;
  if (k.use !== undefined && k.use !== 'sig') return false;
  if (k.alg !== undefined && k.alg !== header.alg) return false;
  if (k.key_ops !== undefined && !k.key_ops.includes('verify')) return false;
  return true;
}

/** How long a fetched JWK Set may be reused when the client says nothing (Cache-Control absent). */
const DEFAULT_TTL_MS = 60_000;
/** Never reuse longer than this, whatever the client says. */
const MAX_TTL_MS = 300_000;
/** A forced refresh (unknown kid) is skipped if the set is younger than this, so bad kids cannot make us hammer a client. */
const MIN_REFRESH_MS = 5_000;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_JWKS_BYTES = 256 * 1024;

/**
 * Fetches client JWK Sets over http(s) and keeps them briefly. SMART: the client "SHOULD return
 * a Cache-Control header in its JWKS response", and the server honours it (no-store/no-cache:
 * not reused; max-age: at most that long, capped at five minutes).
 * A JWK Set URL is chosen by whoever registers a client, so the fetch must not reach into the
 * server's own network: the host must resolve only to public addresses (unless configured in
 * `allowedHosts`, env JWKS_ALLOWED_HOSTS) and the connection goes to the address checked; 5 s and
 * 256 KiB at most; no redirects. Every failure reads the same, so the token endpoint never tells a
 * caller what a URL answered (callers must also not get here for a client that is not approved).
 * One instance per server process; losing it costs only a refetch, so several nodes are fine.
 */
export interface RemoteJwksOptions {
  /** Hosts whose JWK Set URLs may resolve to loopback or private addresses (local development, tests). */
  allowedHosts?: readonly string[];
  now?: () => number;
}

export class RemoteJwks {
  private readonly cache = new Map<string, { keys: JWK[]; fetchedAt: number; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<JWK[]>>();
  private readonly now: () => number;
  private readonly allowedHosts: readonly string[];

  constructor(options: RemoteJwksOptions = {}) {
    this.now = options.now ?? Date.now;
    this.allowedHosts = options.allowedHosts ?? [];
  }

  async keys(url: string, options?: { refresh?: boolean }): Promise<JWK[]> {
    const hit = this.cache.get(url);
    const now = this.now();
    if (hit && now < hit.expiresAt && !(options?.refresh && now - hit.fetchedAt >= MIN_REFRESH_MS)) return hit.keys;
    const running = this.inflight.get(url);
    if (running) return running;
    const p = this.fetchKeys(url).finally(() => this.inflight.delete(url));
    this.inflight.set(url, p);
    return p;
  }

  private async fetchKeys(url: string): Promise<JWK[]> {
    const unusable = () => new InvalidClient("The client's JWK Set URL could not be used");
    let fetched: { cacheControl: string | null; text: string };
    try {
      fetched = await this.get(new URL(url));
    } catch {
      throw unusable();
    }
    let keys: unknown;
    try {
      keys = (JSON.parse(fetched.text) as { keys?: unknown }).keys;
    } catch {
      keys = undefined;
    }
    if (!Array.isArray(keys)) throw unusable();
    const usable = keys.filter((k): k is JWK => typeof k === 'object' && k !== null);
    const fetchedAt = this.now();
    const ttl = ttlOf(fetched.cacheControl);
    if (ttl > 0) this.cache.set(url, { keys: usable, fetchedAt, expiresAt: fetchedAt + ttl });
    else this.cache.delete(url);
    return usable;
  }

  /** GET the URL at a checked address; anything but a 200 within the limits is an Error (no detail kept). */
  private async get(url: URL): Promise<{ cacheControl: string | null; text: string }> {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    const { address, family } = await resolvePublicAddress(url, this.allowedHosts);
    const secure = url.protocol === 'https:';
    return new Promise((resolveGet, rejectGet) => {
      // One deadline for the whole exchange (connect, headers and body), not per socket read.
      const timer = setTimeout(() => req.destroy(new Error('timeout')), FETCH_TIMEOUT_MS);
      const resolve = (v: { cacheControl: string | null; text: string }) => {
        clearTimeout(timer);
        resolveGet(v);
      };
      const reject = (e: Error) => {
        clearTimeout(timer);
        rejectGet(e);
      };
      const req = (secure ? https : http).request(
        {
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || (secure ? 443 : 80),
          path: `${url.pathname}${url.search}`,
          method: 'GET',
          // SMART: "issues a HTTP GET request that URL ... including a header of Accept: application/json".
          headers: { accept: 'application/json', 'user-agent': 'bh-fhir-auth' },
          lookup: pinnedLookup(address, family),
          agent: false,
        },
        (res) => {
          // Redirects are refused too: the registered URL is the one trusted, not wherever it points.
          if (res.statusCode !== 200 || Number(res.headers['content-length'] ?? 0) > MAX_JWKS_BYTES) {
            res.destroy();
            reject(new Error('status'));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_JWKS_BYTES) {
              res.destroy();
              reject(new Error('size'));
            } else chunks.push(chunk);
          });
          res.on('end', () => resolve({ cacheControl: res.headers['cache-control'] ?? null, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('aborted')));
        }
      );
      req.on('error', reject);
      req.end();
    });
  }
}

export function ttlOf(cacheControl: string | null): number {
  if (!cacheControl) return DEFAULT_TTL_MS;
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  const maxAge = directives.find((d) => d.startsWith('max-age='));
  if (maxAge) {
    const seconds = Number(maxAge.slice('max-age='.length));
    return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, MAX_TTL_MS) : 0;
  }
  return DEFAULT_TTL_MS;
}
