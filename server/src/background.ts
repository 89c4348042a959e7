import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { log } from './log.ts';

/** What a background worker gets from the server (app.ts). */
export interface BackgroundDeps {
  db: Database;
  config: Config;
  clock: Clock;
  /** `${config.baseUrl}/fhir/R4` */
  fhirBase: string;
}

/**
 * A background loop: runs `work` every `intervalMs`, at once again while it reports more to do,
 * and early when woken (a commit that queued something calls `wake()`). One run at a time per
 * loop; errors are logged (no PHI) and the loop keeps going. State lives in the database, so a
 * loop may stop at any point (kill -9 included) and another process picks up where it left off.
 */
export interface Loop {
  readonly name: string;
  /** Runs one round now (tests call this after moving the clock); resolves to the work done. */
  runOnce(): Promise<number>;
  /** Asks for a round as soon as the current one (if any) ends. */
  wake(): void;
  stop(): Promise<void>;
}

/**
 * `work` resolves to the work done, or to that and whether more is due right now: a round that did
 * work runs again at once unless it says nothing more is due (then a wake or the interval brings
 * the next one).
 */
export type Round = number | { done: number; more: boolean };

export function startLoop(name: string, intervalMs: number, work: () => Promise<Round>): Loop {
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };

  let more = false;
  const round = async (): Promise<number> => {
    try {
      const r = await work();
      more = typeof r === 'number' ? r > 0 : r.more;
      return typeof r === 'number' ? r : r.done;
    } catch (err) {
      log.error('background loop failed', { loop: name, code: (err as { code?: string }).code, name: (err as Error)?.name });
      more = false;
      return 0;
    }
  };

  const runOnce = async (): Promise<number> => {
    while (running) await running.catch(() => 0);
    running = round();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  const tick = async () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    again = false;
    await runOnce();
    if (stopped) return;
    schedule(more || again ? 0 : intervalMs);
  };

  if (intervalMs > 0) schedule(intervalMs);
  return {
    name,
    runOnce,
    wake() {
      if (stopped || intervalMs <= 0) return;
      if (running) again = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => 0);
    },
  };
}
