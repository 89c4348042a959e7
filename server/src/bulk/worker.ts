import { type BackgroundDeps, type Loop, startLoop } from '../background.ts';
import { log } from '../log.ts';
import { removeJobFiles } from './files.ts';
import { type Job, claimJobs, deleteJob, expiredJobs, finishJob, releaseJob } from './jobs.ts';
import { runJob } from './run.ts';

/**
 * The background side of $export: a loop that claims waiting jobs (at most EXPORT_CONCURRENCY
 * running in this process) and runs them, and a sweeper that deletes finished jobs and their files
 * EXPORT_RETENTION_MINUTES after completion. Jobs are rows, so any process may run any job; a
 * process that stops hands its running jobs back (their progress kept) for the next to resume.
 */
export interface BulkExport {
  loop: Loop;
  sweeper: Loop;
  /** A kick-off calls it: the job starts now rather than at the next poll. */
  wake(): void;
  close(): Promise<void>;
}

const POLL_MS = 1000;
const SWEEP_MS = 60_000;

export function startBulkExport(deps: BackgroundDeps): BulkExport {
  const running = new Map<string, { job: Job; done: Promise<void>; stop: AbortController }>();
  let closing = false;

  const start = (job: Job) => {
    const stop = new AbortController();
    const key = `${job.tenant}/${job.id}`;
    const done = runJob(deps, job, stop.signal)
      .then(async (result) => {
        if (result === 'stopped') await releaseJob(deps.db, job);
      })
      .catch(async (err: unknown) => {
        if (stop.signal.aborted) return releaseJob(deps.db, job).catch(() => undefined);
        // Logged without PHI (no message text: it may quote SQL values); the client sees a generic error.
        log.error('bulk export failed', { job: job.id, code: (err as { code?: string }).code, name: (err as Error)?.name });
        await finishJob(deps.db, job, 'failed', job.output, deps.clock.now().toISOString(), 'The export failed; the error has been logged').catch(() => undefined);
      })
      .finally(() => {
        running.delete(key);
        if (!closing) loop.wake();
      });
    running.set(key, { job, done, stop });
  };

  const loop = startLoop('bulk-export', POLL_MS, async () => {
    const free = deps.config.exportConcurrency - running.size;
    if (closing || free <= 0) return { done: 0, more: false };
    const jobs = await claimJobs(deps.db, free);
    for (const job of jobs) start(job);
    return { done: jobs.length, more: false };
  });

  const sweeper = startLoop('bulk-export-sweep', SWEEP_MS, async () => {
    const before = new Date(deps.clock.now().getTime() - deps.config.exportRetentionMinutes * 60_000).toISOString();
    const expired = await expiredJobs(deps.db, before);
    for (const j of expired) {
      await removeJobFiles(deps.config.exportDir, j.tenant, j.id);
      await deleteJob(deps.db, j.tenant, j.id);
    }
    return expired.length;
  });

  return {
    loop,
    sweeper,
    wake: () => loop.wake(),
    async close() {
      closing = true;
      await loop.stop();
      await sweeper.stop();
      for (const r of running.values()) r.stop.abort();
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}
