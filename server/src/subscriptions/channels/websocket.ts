import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BackgroundDeps } from '../../background.ts';
import type { Channel, SubscriptionRow } from '../channel.ts';

/**
 * The websocket channel (Backport IG 1.1): `$get-ws-binding-token` gives a short-lived token for
 * one or more of the caller's websocket Subscriptions; a client connects, sends
 * `bind-with-token: <token>`, receives a handshake per bound subscription, then its events.
 *
 * CONTRACT: `createWebSocketChannel(deps, wake)` is called once by ./../index.ts; `wake()` asks the
 * delivery loop for a round (after a bind, so pending events go out at once).
 * (Stub: the websocket work fills this in.)
 */
export interface WebSocketChannel extends Channel {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

export function createWebSocketChannel(_deps: BackgroundDeps, _wake: () => void): WebSocketChannel {
  return {
    type: 'websocket',
    canDeliver: (_sub: SubscriptionRow) => false,
    send: async () => {
      throw new Error('no websocket bound');
    },
    upgrade: () => false,
    close: async () => undefined,
  };
}
