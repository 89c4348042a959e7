import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BackgroundDeps, Loop } from '../background.ts';
import { startLoop } from '../background.ts';
import type { WriteHook } from '../store/hooks.ts';

/**
 * FHIR Subscriptions (R4 + Subscriptions R5 Backport IG 1.1), issue 8. See ./README.md.
 *
 * CONTRACT (set before the work was split):
 * - `subscriptionHooks`: write hooks (Subscription validation; the outbox hook that records a
 *   matching change as events in the write's own transaction), placed in write-hooks.ts before audit.
 * - `startSubscriptions(deps)`: the delivery loop (rest-hook and websocket channels, see
 *   ./channel.ts), started by app.ts; `upgrade` takes websocket upgrades (false = not ours).
 */
export const subscriptionHooks: readonly WriteHook[] = [];

export interface SubscriptionService {
  /** Delivery loop: `runOnce()` delivers what is due at `deps.clock.now()` (handshakes, events, heartbeats, retries). */
  loop: Loop;
  /** Handles an HTTP upgrade if it is a subscription websocket; returns false otherwise. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

export function startSubscriptions(deps: BackgroundDeps): SubscriptionService {
  const loop = startLoop('subscription-delivery', deps.config.subscriptionPollMs, async () => 0);
  return { loop, upgrade: () => false, close: () => loop.stop() };
}
