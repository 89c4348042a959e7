/**
 * Fixed-window request counters, in memory and per process (say so: with N worker processes a
 * client gets up to N times the limit; a shared limit would need the database or a proxy).
 * Enough to blunt brute force against client secrets, codes and registrations.
 */
export class RateLimit {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Counts one request for key; returns seconds to wait when over the limit, else 0. */
  hit(key: string): number {
    if (this.limit <= 0) return 0;
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 50_000) this.sweep(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    return w.count > this.limit ? Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) : 0;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    if (this.windows.size > 50_000) this.windows.clear();
  }
}
