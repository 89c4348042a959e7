/**
 * Login attempt rate limits per client IP and per username (OWASP Authentication Cheat Sheet,
 * "Protect against automated attacks"), beside the per-account lockout.
 *
 * In-memory sliding window: each server process counts on its own, so with N workers an
 * attacker gets up to N times the limit, and a restart forgets. Good enough as a brake on
 * brute force; a shared store (the database) would be needed for an exact limit.
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();
  private readonly limit: number;
  private readonly windowMs: number;
  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Records an attempt; false when the key already used up its window. */
  take(key: string, now: number = Date.now()): boolean {
    const since = now - this.windowMs;
    const list = (this.hits.get(key) ?? []).filter((t) => t > since);
    if (list.length >= this.limit) {
      this.hits.set(key, list);
      return false;
    }
    list.push(now);
    this.hits.set(key, list);
    if (this.hits.size > 100_000) this.prune(since);
    return true;
  }

  private prune(since: number): void {
    for (const [k, v] of this.hits) if (!v.some((t) => t > since)) this.hits.delete(k);
  }
}

/** Per IP: generous, a clinic may sit behind one NAT address. Per username: a few per minute. */
export const LOGIN_LIMIT_PER_IP = 60;
export const LOGIN_LIMIT_PER_USERNAME = 20;
export const LOGIN_WINDOW_MS = 5 * 60_000;
