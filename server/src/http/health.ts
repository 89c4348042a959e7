import express from 'express';
import type { Database } from '../db/database.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { outcome } from '../kernel/outcome.ts';

/**
 * Probes for an orchestrator or load balancer:
 * - `/healthz` (liveness): the process answers HTTP. Nothing else is checked, so a database
 *   outage never gets healthy processes restarted.
 * - `/readyz` (readiness): 200 when the database answers within READY_TIMEOUT_MS and every
 *   migration is applied; 503 with an OperationOutcome naming what is missing otherwise, and from
 *   the moment shutdown begins (./shutdown.ts), so the balancer stops sending new requests.
 */
export interface Lifecycle {
  /** Shutdown has begun: not ready, and responses close their connection. */
  draining: boolean;
  /** Requests being served (./access-log.ts counts them; shutdown waits for 0). */
  inFlight: number;
  /** Connections first seen before this instant (performance.now) close after their next answer (./rebalance.ts). */
  rebalanceBefore?: number;
}

const READY_TIMEOUT_MS = 2000;

export function healthRouter(db: Database, lifecycle: Lifecycle): express.Router {
  const r = express.Router();
  r.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ ok: true, status: 'live' });
  });
  r.get('/readyz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    const notReady = (text: string) => res.status(503).type('application/fhir+json').send(JSON.stringify(outcome('unavailable', text)));
    if (lifecycle.draining) return notReady('The server is shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), READY_TIMEOUT_MS)));
    try {
      const pending = await Promise.race([pendingMigrations(db), timeout]);
      if (pending === 'timeout') return notReady(`The database did not answer within ${READY_TIMEOUT_MS} ms`);
      if (pending.length) return notReady(`Database migrations not applied: ${pending.join(', ')}`);
    } catch {
      // Never the database's wording (it can name hosts, users, SQL).
      return notReady('The database is not reachable');
    } finally {
      clearTimeout(timer);
    }
    if (lifecycle.draining) return notReady('The server is shutting down');
    res.json({ ok: true, status: 'ready' });
  });
  return r;
}
