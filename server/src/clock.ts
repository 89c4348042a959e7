/**
 * The server's notion of "now" for durable timers (risk escalation deadlines, subscription
 * retries and heartbeats). Timers compare stored due times with `clock.now()`, never with SQL
 * now(), so tests can move time forward instead of sleeping (test/support/server.ts).
 * So does the absolute lifetime of offline grants (days: auth/token/refresh.ts). Resource
 * meta.lastUpdated and the other token lifetimes keep using the system time.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** The system time plus an offset that only grows: a test advances it; real time keeps running. */
export class OffsetClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    if (ms < 0) throw new Error('time only moves forward');
    this.offsetMs += ms;
  }
}
