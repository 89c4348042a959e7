import { auditTrailFor } from '../audit/audit-trail.ts';
import type { Database } from '../db/database.ts';
import { pendingNotifications } from '../subscriptions/backlog.ts';
import type { Lifecycle } from './health.ts';
import { clusterMetrics } from './metrics-cluster.ts';
import { Metrics, type Sample } from './metrics.ts';

/**
 * The metrics of one server process: request counts and durations (fed by ./access-log.ts), and
 * gauges read at scrape time: requests in flight, the pg pool, the audit buffer, and the
 * subscription backlog (one aggregate query, at most every BACKLOG_MS however often scraped).
 * `scrape` is what /metrics answers: cluster-wide in a cluster worker (./metrics-cluster.ts).
 */
const BACKLOG_MS = 5000;

export interface ServerMetrics {
  registry: Metrics;
  local(): Promise<Sample[]>;
  scrape(): Promise<Sample[]>;
}

export function serverMetrics(db: Database, lifecycle: Lifecycle): ServerMetrics {
  const registry = new Metrics();
  registry.addGauges(() => [{ name: 'http_requests_in_flight', labels: {}, value: lifecycle.inFlight }]);
  registry.addGauges(() => {
    const pool = db.poolStats?.();
    if (!pool) return [];
    return (['total', 'idle', 'waiting'] as const).map((state) => ({ name: 'db_pool_connections', labels: { state }, value: pool[state] }));
  });
  registry.addGauges(() => [{ name: 'audit_buffer_depth', labels: {}, value: auditTrailFor(db).depth }]);
  let backlog: { at: number; value: Promise<number> } | undefined;
  registry.addGauges(async () => {
    if (!backlog || Date.now() - backlog.at > BACKLOG_MS) {
      backlog = { at: Date.now(), value: pendingNotifications(db) };
    }
    try {
      return [{ name: 'subscription_notifications_pending', labels: {}, value: await backlog.value }];
    } catch {
      backlog = undefined;
      return [];
    }
  });
  const local = () => registry.samples();
  return { registry, local, scrape: clusterMetrics(local) };
}
