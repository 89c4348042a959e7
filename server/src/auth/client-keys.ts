import type { JWK } from 'jose';
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
 * One instance per server process; losing it costs only a refetch, so several nodes are fine.
 */
export class RemoteJwks {
  private readonly cache = new Map<string, { keys: JWK[]; fetchedAt: number; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<JWK[]>>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
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
    const protocol = new URL(url).protocol;
    if (protocol !== 'https:' && protocol !== 'http:') throw new InvalidClient('The registered JWK Set URL is not http(s)');
    let res: Response;
    let text: string;
    try {
      // SMART: "issues a HTTP GET request that URL ... including a header of Accept: application/json".
      // Redirects are refused: the registered URL is the one trusted, not wherever it points.
      res = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (Number(res.headers.get('content-length') ?? 0) > MAX_JWKS_BYTES) throw new Error('too large');
      text = await res.text();
    } catch {
      throw new InvalidClient("The client's JWK Set URL could not be retrieved");
    }
    if (res.status !== 200) throw new InvalidClient(`The client's JWK Set URL answered HTTP ${res.status}`);
    if (text.length > MAX_JWKS_BYTES) throw new InvalidClient("The client's JWK Set is too large");
    let keys: unknown;
    try {
      keys = (JSON.parse(text) as { keys?: unknown }).keys;
    } catch {
      keys = undefined;
    }
    if (!Array.isArray(keys)) throw new InvalidClient("The client's JWK Set URL did not return a JWK Set");
    const usable = keys.filter((k): k is JWK => typeof k === 'object' && k !== null);
    const fetchedAt = this.now();
    const ttl = ttlOf(res.headers.get('cache-control'));
    if (ttl > 0) this.cache.set(url, { keys: usable, fetchedAt, expiresAt: fetchedAt + ttl });
    else this.cache.delete(url);
    return usable;
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
