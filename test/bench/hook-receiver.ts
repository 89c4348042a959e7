import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Parameters } from '@medplum/fhirtypes';

/**
 * A rest-hook endpoint (a real HTTP server in the test or benchmark process) that records every
 * notification with the time it arrived and the status it was answered with. `status` and
 * `delayMs` say how to answer the next ones (a failing or a slow receiver).
 */
export interface HookEvent {
  subscription: string;
  number: number;
  focus?: string;
}

export interface HookNotification {
  /** performance.timeOrigin + performance.now() when the request body was complete. */
  at: number;
  answered: number;
  type: string;
  subscription: string;
  eventsSinceStart?: number;
  events: HookEvent[];
}

export interface HookReceiver {
  url: string;
  notifications: HookNotification[];
  status: number;
  delayMs: number;
  /** Called for each notification as it arrives (the benchmark measures latency here). */
  onNotification?: (n: HookNotification) => void;
  /** Event notifications answered 2xx: what the server may count as delivered. */
  delivered(): HookEvent[];
  /** Resolves once `pred` holds, checked after each notification; rejects after `timeoutMs`. */
  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

export function parseStatus(bundle: Bundle): Omit<HookNotification, 'at' | 'answered'> | undefined {
  const status = bundle?.entry?.[0]?.resource as Parameters | undefined;
  if (bundle?.resourceType !== 'Bundle' || status?.resourceType !== 'Parameters') return undefined;
  const p = (n: string) => status.parameter?.find((x) => x.name === n);
  const subscription = (p('subscription')?.valueReference?.reference ?? '').split('/').at(-1) as string;
  const since = p('events-since-subscription-start')?.valueString;
  return {
    type: p('type')?.valueCode as string,
    subscription,
    eventsSinceStart: since === undefined ? undefined : Number(since),
    events: (status.parameter ?? [])
      .filter((x) => x.name === 'notification-event')
      .map((e) => ({
        subscription,
        number: Number(e.part?.find((x) => x.name === 'event-number')?.valueString),
        focus: e.part?.find((x) => x.name === 'focus')?.valueReference?.reference,
      })),
  };
}

export async function startHookReceiver(): Promise<HookReceiver> {
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.timeOrigin + performance.now();
      const answered = r.status;
      let parsed: ReturnType<typeof parseStatus>;
      try {
        parsed = parseStatus(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle);
      } catch {
        parsed = undefined;
      }
      const answer = () => {
        res.statusCode = answered;
        res.end();
      };
      if (r.delayMs > 0) setTimeout(answer, r.delayMs);
      else answer();
      if (!parsed) return;
      const n: HookNotification = { at, answered, ...parsed };
      r.notifications.push(n);
      r.onNotification?.(n);
      for (const w of [...waiters]) w();
    });
  });
  server.keepAliveTimeout = 60_000;
  const r: HookReceiver = {
    url: '',
    notifications: [],
    status: 200,
    delayMs: 0,
    delivered: () => r.notifications.filter((n) => n.type === 'event-notification' && n.answered < 300).flatMap((n) => n.events),
    until(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pred()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: ${what} did not happen within ${timeoutMs} ms (${r.notifications.length} notifications)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}
