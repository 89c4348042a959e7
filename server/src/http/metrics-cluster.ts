import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { log } from '../log.ts';
import { type Sample, mergeSamples, processSamples } from './metrics.ts';

/**
 * One scrape for the whole cluster (main.ts runs WORKERS processes on PostgreSQL): whichever
 * process answers /metrics, the primary asks every worker for its samples over the cluster's IPC
 * channel and merges them (./metrics.ts). A worker that does not answer within COLLECT_MS (busy
 * or stopping) is left out of that scrape. Outside cluster mode a scrape is this process's own.
 */
const COLLECT_MS = 2000;

type Message =
  | { bhMetrics: 'request'; id: string }
  | { bhMetrics: 'collect'; id: string }
  | { bhMetrics: 'samples'; id: string; samples: Sample[] }
  | { bhMetrics: 'merged'; id: string; samples: Sample[] };

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && 'bhMetrics' in m;

/** In a worker: answers the primary's collection with `local`, and returns the cluster-wide scrape. */
export function clusterMetrics(local: () => Promise<Sample[]>): () => Promise<Sample[]> {
  if (!cluster.isWorker || !process.send) return local;
  const waiting = new Map<string, (s: Sample[]) => void>();
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.bhMetrics === 'collect') {
      void local().then(
        (samples) => process.send?.({ bhMetrics: 'samples', id: m.id, samples } satisfies Message),
        () => undefined
      );
    } else if (m.bhMetrics === 'merged') {
      waiting.get(m.id)?.(m.samples);
    }
  });
  return async () => {
    const id = randomUUID();
    const merged = new Promise<Sample[] | undefined>((resolve) => {
      waiting.set(id, resolve);
      setTimeout(() => resolve(undefined), COLLECT_MS * 2).unref();
      process.send?.({ bhMetrics: 'request', id } satisfies Message);
    });
    const samples = await merged;
    waiting.delete(id);
    // The primary did not answer (it is stopping): this process's own samples are better than none.
    return samples ?? local();
  };
}

/** Workers that have started listening: one still starting has nothing to count and cannot answer yet. */
const listening = new Set<number>();

/** In the primary: collects and merges every listening worker's samples (and its own process gauges). */
export async function collectFromWorkers(): Promise<Sample[]> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w?.isConnected() && listening.has(w.id)));
  const id = randomUUID();
  const lists = await Promise.all(
    workers.map(
      (w) =>
        new Promise<Sample[]>((resolve) => {
          const timer = setTimeout(() => {
            log.warn('metrics: a worker did not answer in time; left out of this scrape', { worker: w.process.pid, waitedMs: COLLECT_MS });
            done([]);
          }, COLLECT_MS);
          const onMessage = (m: unknown) => {
            if (isMessage(m) && m.bhMetrics === 'samples' && m.id === id) done(m.samples);
          };
          const done = (s: Sample[]) => {
            clearTimeout(timer);
            w.off('message', onMessage);
            resolve(s);
          };
          w.on('message', onMessage);
          try {
            w.send({ bhMetrics: 'collect', id } satisfies Message);
          } catch {
            done([]);
          }
        })
    )
  );
  return mergeSamples([...lists, processSamples()]);
}

/**
 * In the primary, before the workers start: tracks which are listening, and answers those scraped
 * on the public port (METRICS_TOKEN).
 */
export function serveWorkersMetrics(): void {
  cluster.on('listening', (worker) => listening.add(worker.id));
  cluster.on('exit', (worker) => listening.delete(worker.id));
  cluster.on('message', (worker, m: unknown) => {
    if (!isMessage(m) || m.bhMetrics !== 'request') return;
    void collectFromWorkers().then((samples) => {
      if (worker.isConnected()) worker.send({ bhMetrics: 'merged', id: m.id, samples } satisfies Message);
    });
  });
}
