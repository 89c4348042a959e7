import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import type { BackgroundDeps, Loop } from '../background.ts';
import { startLoop } from '../background.ts';
import { log } from '../log.ts';
import type { WriteHook } from '../store/hooks.ts';
import { createRestHookChannel } from './channels/rest-hook.ts';
import { createWebSocketChannel } from './channels/websocket.ts';
import { createDelivery } from './delivery.ts';
import { configureSubscriptions, onEventsCommitted, outboxHook, subscriptionResourceHook } from './outbox.ts';
import { CHANGE_CHANNEL, EVENT_CHANNEL, PROCESS_TAG, WEBSOCKET_MARK, invalidate, invalidateAll, setMatcherMaxAge, warmMatchersWith } from './registry.ts';

/**
 * FHIR Subscriptions (R4 + Subscriptions R5 Backport IG 1.1), issue 8. See ./README.md.
 *
 * - `subscriptionHooks`: write hooks (Subscription validation; the outbox hook that records a
 *   matching change as events in the write's own transaction), placed in write-hooks.ts before audit.
 * - `startSubscriptions(deps)`: the delivery loop (rest-hook and websocket channels, see
 *   ./channel.ts), started by app.ts; `upgrade` takes websocket upgrades (false = not ours).
 */
export const subscriptionHooks: readonly WriteHook[] = [subscriptionResourceHook, outboxHook];

export interface SubscriptionService {
  /** Delivery loop: `runOnce()` delivers what is due at `deps.clock.now()` (handshakes, events, heartbeats, retries). */
  loop: Loop;
  /** Handles an HTTP upgrade if it is a subscription websocket; returns false otherwise. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

export function startSubscriptions(deps: BackgroundDeps): SubscriptionService {
  const { config } = deps;
  configureSubscriptions(config.subscriptionAllowedHosts);
  const restHook = createRestHookChannel({ allowedHosts: config.subscriptionAllowedHosts, maxTimeoutSeconds: config.subscriptionMaxTimeoutSeconds });
  let loop: Loop | undefined;
  const wake = () => loop?.wake();
  const websocket = createWebSocketChannel(deps, wake);
  const delivery = createDelivery(
    deps,
    { restHook, websocket },
    {
      allowedHosts: config.subscriptionAllowedHosts,
      maxTimeoutSeconds: config.subscriptionMaxTimeoutSeconds,
      maxAttempts: config.subscriptionMaxAttempts,
      backoffMaxSeconds: config.subscriptionBackoffMaxSeconds,
    }
  );
  loop = startLoop('subscription-delivery', config.subscriptionPollMs, () => delivery.deliverDue());
  const stopWaking = onEventsCommitted(wake);
  warmMatchersWith(deps.db);
  // On PostgreSQL other processes may change Subscriptions: until LISTEN is up, matchers expire quickly.
  setMatcherMaxAge(deps.db.kind === 'postgres' ? UNHEARD_MAX_AGE_MS : Number.POSITIVE_INFINITY);
  const listener = deps.db.kind === 'postgres' && config.subscriptionPollMs > 0 ? listen(deps, wake) : undefined;
  return {
    loop,
    upgrade: (req, socket, head) => websocket.upgrade(req, socket, head),
    async close() {
      stopWaking();
      warmMatchersWith(undefined);
      await listener?.close();
      await loop?.stop();
      await websocket.close();
    },
  };
}

/**
 * Other processes on the same PostgreSQL: NOTIFY (sent at commit by the writing transaction) wakes
 * our delivery loop for new events and drops our matcher for a tenant whose Subscriptions changed.
 * The listening connection goes to the database our pool uses (current_database(), so a test's
 * fresh database is the one listened on). Lost connection: reconnect, and reload every matcher.
 */
const UNHEARD_MAX_AGE_MS = 5_000;
/** How long another process's rest-hook events are left to it before we look (many NOTIFYs, one look). */
const BACKUP_WAKE_MS = 200;

function listen(deps: BackgroundDeps, wake: () => void): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let backupTimer: NodeJS.Timeout | undefined;
  const backup = () => {
    backupTimer ??= setTimeout(() => {
      backupTimer = undefined;
      if (!closed) wake();
    }, BACKUP_WAKE_MS);
    backupTimer.unref();
  };
  const connect = async () => {
    if (closed || !deps.config.databaseUrl) return;
    try {
      const { rows } = await deps.db.query<{ db: string }>('SELECT current_database() AS db');
      const url = new URL(deps.config.databaseUrl);
      url.pathname = `/${rows[0].db}`;
      const c = new pg.Client({ connectionString: url.toString() });
      c.on('error', () => {
        void c.end().catch(() => undefined);
        if (client === c) client = undefined;
        setMatcherMaxAge(UNHEARD_MAX_AGE_MS);
        schedule();
      });
      c.on('notification', (n) => {
        if (n.channel === EVENT_CHANNEL) {
          const [from, mark] = [n.payload?.slice(0, PROCESS_TAG.length), n.payload?.slice(PROCESS_TAG.length)];
          if (from === PROCESS_TAG) return;
          // Websocket events only the process holding the socket can send: at once. Rest-hook
          // events the committing process sends itself (it woke its own loop): we claim them
          // only as its backup, a little later, so two processes do not race for every event.
          if (mark === WEBSOCKET_MARK) wake();
          else backup();
        } else if (n.channel === CHANGE_CHANNEL && n.payload) invalidate(n.payload);
      });
      await c.connect();
      await c.query(`LISTEN ${EVENT_CHANNEL}`);
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (closed) {
        await c.end();
        return;
      }
      client = c;
      setMatcherMaxAge(Number.POSITIVE_INFINITY);
      invalidateAll(); // changes made while we were not listening
      wake();
    } catch (err) {
      log.error('subscription listener failed', { code: (err as { code?: string }).code, name: (err as Error)?.name });
      schedule();
    }
  };
  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => void connect(), 5000);
    timer.unref();
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (backupTimer) clearTimeout(backupTimer);
      await client?.end().catch(() => undefined);
    },
  };
}
