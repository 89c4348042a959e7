import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { Lifecycle } from './health.ts';

/**
 * Keep-alive connections spread over a cluster's workers as they come and go. The primary hands
 * each new connection to the next worker in turn, but a kept-alive connection stays with the
 * worker that took it. Workers start one at a time (serve.ts), so every connection a client opened
 * while only the first one listened stayed there: in the benchmark the whole load went to one
 * worker, with the other idle, and a worker started to replace one that died got no share of the
 * connections already open either.
 *
 * So when a worker starts listening, the primary tells the others; each of them then closes every
 * connection it had accepted before that moment after that connection's next answer
 * (`Connection: close`, ./access-log.ts). Its client opens a new one, which the primary hands to
 * the next worker in turn. Each connection is closed once, and only when a worker joins.
 */
const MESSAGE = 'bhRebalance';

/** In the primary: when a worker listens, ask every other worker to let go of its connections. */
export function rebalanceOnJoin(): void {
  cluster.on('listening', (joined: Worker) => {
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w && w !== joined && w.isConnected()) w.send({ [MESSAGE]: true });
    }
  });
}

/** In a worker: a join asks this worker to close the connections it accepted before it. */
export function followRebalance(lifecycle: Lifecycle): void {
  if (!cluster.isWorker) return;
  process.on('message', (m: unknown) => {
    if (typeof m === 'object' && m !== null && (m as Record<string, unknown>)[MESSAGE] === true) lifecycle.rebalanceBefore = performance.now();
  });
}

/** When each connection was first seen by this process (its first request). */
const firstSeen = new WeakMap<Socket, number>();

/** Whether this answer should close its connection so that the client reconnects to any worker. */
export function letGo(socket: Socket, lifecycle: Lifecycle): boolean {
  let seen = firstSeen.get(socket);
  if (seen === undefined) firstSeen.set(socket, (seen = performance.now()));
  return lifecycle.rebalanceBefore !== undefined && seen < lifecycle.rebalanceBefore;
}
