import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { WebSocket } from 'ws';

/**
 * A websocket subscriber as a client app would be one (Backport IG 1.1 channels.html#websockets):
 * connects to the websocket-url, sends `bind-with-token: <token>`, and keeps every message. Tests
 * await messages with a deadline (`next`, `until`) rather than sleeping.
 */
export interface Notification {
  bundle: Bundle;
  status: Parameters;
  type: string;
  subscription: string;
  eventsSinceStart?: string;
  events: { number: string; focus?: string }[];
}

export interface WsClient {
  ws: WebSocket;
  /** Every text message received, parsed. */
  messages: unknown[];
  /** The notification Bundles among them. */
  notifications(): Notification[];
  bind(token: string): void;
  /** Resolves when `count` messages satisfying `pred` have arrived (including earlier ones). */
  until(pred: (m: unknown) => boolean, count?: number, timeoutMs?: number): Promise<unknown[]>;
  /** Resolves with the close code once the server closed the socket. */
  closed: Promise<number>;
  close(): void;
}

export function parseNotification(m: unknown): Notification | undefined {
  const bundle = m as Bundle;
  if (bundle?.resourceType !== 'Bundle') return undefined;
  const status = bundle.entry?.[0]?.resource as Parameters;
  const p = (name: string) => status.parameter?.find((x) => x.name === name);
  return {
    bundle,
    status,
    type: p('type')?.valueCode as string,
    subscription: p('subscription')?.valueReference?.reference as string,
    eventsSinceStart: p('events-since-subscription-start')?.valueString,
    events: (status.parameter ?? [])
      .filter((x) => x.name === 'notification-event')
      .map((e) => ({
        number: e.part?.find((x) => x.name === 'event-number')?.valueString as string,
        focus: e.part?.find((x) => x.name === 'focus')?.valueReference?.reference,
      })),
  };
}

export async function connect(url: string): Promise<WsClient> {
  const ws = new WebSocket(url);
  const messages: unknown[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()));
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    notifications: () => messages.map(parseNotification).filter((n): n is Notification => Boolean(n)),
    bind: (token) => ws.send(`bind-with-token: ${token}`),
    until(pred, count = 1, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hits = messages.filter(pred);
          if (hits.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hits);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`websocket: ${messages.filter(pred).length} of ${count} expected messages within ${timeoutMs} ms (${messages.length} messages in all)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    closed,
    close: () => ws.close(),
  };
}

/** A predicate for notifications of `type` for the Subscription whose URL ends with `/Subscription/<id>`. */
export const isNotification = (type: string, subscriptionId?: string) => (m: unknown) => {
  const n = parseNotification(m);
  return Boolean(n && n.type === type && (!subscriptionId || n.subscription.endsWith(`/Subscription/${subscriptionId}`)));
};
