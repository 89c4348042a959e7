import type http from 'node:http';
import { log } from '../log.ts';
import type { Lifecycle } from './health.ts';

/**
 * A graceful stop of one server process (SIGTERM/SIGINT, main.ts):
 * 1. not ready: /readyz answers 503 and every response closes its connection; for `delayMs`
 *    (SHUTDOWN_DELAY_MS, default 0) the listener stays open so a balancer polling /readyz sees it
 *    and stops sending before connections are refused;
 * 2. stop accepting (`server.close()`), and close idle keep-alive connections as they become idle;
 * 3. wait for the requests in flight to finish, at most `timeoutMs` (SHUTDOWN_TIMEOUT_MS); past it
 *    the remaining connections are cut (logged);
 * 4. `close()`: the background loops stop, websockets close, the audit buffer is stored and the
 *    hash chain sealed, the database closes (app.ts Server.close).
 * Resolves to whether every request finished in time.
 */
export interface ShutdownOptions {
  timeoutMs: number;
  delayMs: number;
}

const POLL_MS = 25;

export async function shutdown(server: http.Server, lifecycle: Lifecycle, close: () => Promise<void>, o: ShutdownOptions): Promise<boolean> {
  lifecycle.draining = true;
  log.info('shutting down', { inFlight: lifecycle.inFlight, timeoutMs: o.timeoutMs, delayMs: o.delayMs });
  if (o.delayMs > 0) await sleep(o.delayMs);
  server.close();
  const deadline = Date.now() + o.timeoutMs;
  // Checking and closing in one tick: no request can slip onto a connection between the two.
  while (lifecycle.inFlight > 0 && Date.now() < deadline) {
    server.closeIdleConnections();
    await sleep(POLL_MS);
  }
  const drained = lifecycle.inFlight === 0;
  if (!drained) log.warn('shutdown timeout: cutting requests still in flight', { inFlight: lifecycle.inFlight });
  server.closeAllConnections();
  await close();
  log.info('stopped', { drained });
  return drained;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
