import type { Database } from '../db/database.ts';

/**
 * Notifications recorded and not yet taken by their receivers, across tenants: the delivery
 * queue's depth for /metrics. Subscriptions switched `off` are not waiting for anything; those in
 * `error` still are (their events keep counting until re-activated). One aggregate over the
 * `subscription` rows, not the event table.
 */
export async function pendingNotifications(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT COALESCE(SUM(events_since_start - delivered_through), 0)::bigint AS n FROM subscription WHERE status <> 'off'"
  );
  return Number(rows[0]?.n ?? 0);
}
