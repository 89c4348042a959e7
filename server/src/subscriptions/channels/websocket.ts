import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { WebSocket, WebSocketServer } from 'ws';
import type { BackgroundDeps } from '../../background.ts';
import type { Clock } from '../../clock.ts';
import type { Database } from '../../db/database.ts';
import { log } from '../../log.ts';
import type { Channel, NotificationType, SubscriptionRow } from '../channel.ts';
import { redeemBindingToken } from '../websocket/binding-token.ts';
import { handshakeFor, loadBindableRows } from '../websocket/rows.ts';
import { stringifyJson } from '../../kernel/json.ts';

/**
 * The websocket channel (Backport IG 1.1, http://hl7.org/fhir/uv/subscriptions-backport/channels.html#websockets):
 * `$get-ws-binding-token` gives a short-lived token for one or more of the caller's websocket
 * Subscriptions; a client connects to WS_PATH, sends `bind-with-token: <token>`, receives a
 * handshake per bound subscription, then its event notifications and heartbeats (JSON Bundles).
 *
 * A binding lasts until its token's expiration: the IG expects clients to fetch a new token
 * before one expires and to bind again "serially for continued operation over a single websocket
 * connection". So access is re-decided (at token issue) at least every BINDING_TOKEN_SECONDS,
 * and a socket left with no live binding is closed (1008) rather than kept silently open.
 *
 * CONTRACT: `createWebSocketChannel(deps, wake)` is called once by ./../index.ts; `wake()` asks the
 * delivery loop for a round (after a bind, so pending events go out at once).
 */
export interface WebSocketChannel extends Channel {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * The subscriptions this process can deliver now (a live binding here), for the delivery loop's
   * claim: selecting these by key, rather than every due websocket row and then `canDeliver`, keeps
   * unbound subscriptions with a backlog (closed apps) from crowding out the bound ones.
   */
  bound(): { tenant: string; id: string }[];
  close(): Promise<void>;
}

/** Where clients connect (the `websocket-url` of $get-ws-binding-token, with ws:// or wss://). */
export const WS_PATH = '/ws/subscriptions';
/** A socket that has not bound anything by then is closed: nothing else may hold a connection open. */
const BIND_WITHIN_MS = 30_000;
/** Protocol-level ping (RFC 6455 §5.5.2) to notice peers that vanished without a close. */
const PING_EVERY_MS = 30_000;
const MAX_MESSAGE_BYTES = 4096;

export interface WebSocketEndpoint {
  db: Database;
  clock: Clock;
  url: string;
}

// The binding-token operation (fhir/interactions/subscription-ws.ts) runs in the REST layer with
// only a repository in hand; it finds this process's database, clock and websocket URL here, by
// FHIR base (one server per base in a process).
const endpoints = new Map<string, WebSocketEndpoint>();

export function websocketEndpointFor(fhirBase: string): WebSocketEndpoint | undefined {
  return endpoints.get(fhirBase);
}

export function websocketUrl(fhirBase: string): string {
  const u = new URL(fhirBase);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/fhir\/R4\/?$/, '')}${WS_PATH}`.replace(/\/{2,}/g, '/');
  return u.toString();
}

interface Client {
  ws: WebSocket;
  /** `${tenant}/${subscriptionId}` → binding expiry (ms since epoch, server clock). */
  bound: Map<string, number>;
}

const keyOf = (tenant: string, id: string) => `${tenant}/${id}`;

export function createWebSocketChannel(deps: BackgroundDeps, wake: () => void): WebSocketChannel {
  const { db, clock } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const clients = new Set<Client>();
  /** subscription key → the clients bound to it in this process */
  const bySubscription = new Map<string, Set<Client>>();
  const url = websocketUrl(deps.fhirBase);
  endpoints.set(deps.fhirBase, { db, clock, url });

  const unbind = (c: Client, key: string) => {
    c.bound.delete(key);
    const set = bySubscription.get(key);
    set?.delete(c);
    if (set && set.size === 0) bySubscription.delete(key);
  };

  const drop = (c: Client) => {
    for (const key of [...c.bound.keys()]) unbind(c, key);
    clients.delete(c);
  };

  const sendText = (ws: WebSocket, text: string) =>
    new Promise<void>((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) return reject(new Error('websocket closed'));
      ws.send(text, (err) => (err ? reject(new Error('websocket send failed')) : resolve()));
    });

  const refuse = (c: Client, diagnostics: string, code: 'security' | 'invalid' | 'not-supported') => {
    const oo: OperationOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
    void sendText(c.ws, JSON.stringify(oo)).catch(() => undefined);
    if (c.bound.size === 0) c.ws.close(1008, 'not bound');
  };

  async function bind(c: Client, token: string): Promise<void> {
    const now = clock.now();
    const redeemed = await redeemBindingToken(db, token, now);
    if (!redeemed) return refuse(c, 'The binding token is unknown or expired; get a new one with $get-ws-binding-token', 'security');
    // The Subscriptions may have changed since the token was issued: only those still on a
    // websocket channel and not off are bound.
    const rows = await loadBindableRows(db, redeemed.tenant, redeemed.subscriptions);
    if (rows.length === 0) return refuse(c, 'None of the token\'s Subscriptions can be bound (deleted, off, or no longer websocket)', 'invalid');
    if (c.ws.readyState !== WebSocket.OPEN) return;
    // IG: "Server sends one or more handshake messages via websockets (one per Subscription
    // included in the token)", before any event notification: so the handshakes go out before the
    // socket counts as bound (canDeliver). A Subscription still `requested` gets its handshake
    // from the delivery loop instead, which then makes it active (../delivery.ts).
    for (const row of rows) {
      if (row.status !== 'requested') await sendText(c.ws, JSON.stringify(handshakeFor(row, deps.fhirBase, clock.now())));
    }
    const expires = redeemed.expiresAt.getTime();
    for (const row of rows) {
      const key = keyOf(row.tenant, row.id);
      c.bound.set(key, Math.max(expires, c.bound.get(key) ?? 0));
      let set = bySubscription.get(key);
      if (!set) bySubscription.set(key, (set = new Set()));
      set.add(c);
    }
    wake();
  }

  wss.on('connection', (ws: WebSocket) => {
    const c: Client = { ws, bound: new Map() };
    clients.add(c);
    let alive = true;
    const unboundTimer = setTimeout(() => {
      if (c.bound.size === 0) ws.close(1008, 'no binding');
    }, BIND_WITHIN_MS);
    unboundTimer.unref();
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, PING_EVERY_MS);
    pinger.unref();
    ws.on('pong', () => (alive = true));
    // One bind at a time per socket, in the order they arrived.
    let chain = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      const m = /^bind-with-token:\s*(\S+)\s*$/.exec(text);
      if (!m) return refuse(c, "Unknown message; send 'bind-with-token: <token>'", 'not-supported');
      chain = chain
        .then(() => bind(c, m[1]))
        .catch((err: unknown) => {
          log.error('websocket bind failed', { code: (err as { code?: string }).code, name: (err as Error)?.name });
          refuse(c, 'The binding could not be made; try again', 'invalid');
        });
    });
    ws.on('close', () => {
      clearTimeout(unboundTimer);
      clearInterval(pinger);
      drop(c);
    });
    ws.on('error', () => ws.terminate());
  });

  // Bindings lapse with their token; a socket left with none is told so and closed.
  const sweeper = setInterval(() => {
    const now = clock.now().getTime();
    for (const c of clients) {
      let lapsed = false;
      for (const [key, exp] of c.bound) {
        if (exp <= now) {
          unbind(c, key);
          lapsed = true;
        }
      }
      if (lapsed && c.bound.size === 0) c.ws.close(1008, 'binding token expired');
    }
  }, 1000);
  sweeper.unref();

  const live = (sub: SubscriptionRow): Client[] => {
    const set = bySubscription.get(keyOf(sub.tenant, sub.id));
    if (!set) return [];
    const now = clock.now().getTime();
    return [...set].filter((c) => c.ws.readyState === WebSocket.OPEN && (c.bound.get(keyOf(sub.tenant, sub.id)) ?? 0) > now);
  };

  return {
    type: 'websocket',
    canDeliver: (sub) => sub.channelType === 'websocket' && live(sub).length > 0,
    bound() {
      const now = clock.now().getTime();
      const out: { tenant: string; id: string }[] = [];
      for (const [key, set] of bySubscription) {
        if (![...set].some((c) => c.ws.readyState === WebSocket.OPEN && (c.bound.get(key) ?? 0) > now)) continue;
        const slash = key.indexOf('/');
        out.push({ tenant: key.slice(0, slash), id: key.slice(slash + 1) });
      }
      return out;
    },
    async send(sub: SubscriptionRow, bundle: Bundle, _type: NotificationType): Promise<void> {
      const targets = live(sub);
      if (targets.length === 0) throw new Error('no websocket bound to this subscription here');
      const text = stringifyJson(bundle);
      // Every socket bound to the subscription here gets it (e.g. two tabs of one app); it counts
      // as delivered when at least one took it.
      const results = await Promise.allSettled(targets.map((c) => sendText(c.ws, text)));
      if (!results.some((r) => r.status === 'fulfilled')) throw new Error('websocket send failed');
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== WS_PATH) return false;
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      return true;
    },
    async close(): Promise<void> {
      clearInterval(sweeper);
      if (endpoints.get(deps.fhirBase)?.db === db) endpoints.delete(deps.fhirBase);
      for (const c of clients) c.ws.terminate();
      clients.clear();
      bySubscription.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
