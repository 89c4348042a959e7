import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Parameters } from '@medplum/fhirtypes';

/**
 * A real HTTP server standing in for a rest-hook endpoint: records every request it takes and
 * answers with the status the test sets. `waitFor(n)` resolves once n requests arrived (or rejects
 * after a deadline), so tests await deliveries instead of sleeping.
 */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when there is one. */
  json?: unknown;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** HTTP status to answer with (default 200). */
  status: number;
  /** Take requests but never answer them (a receiver that hangs). */
  hang: boolean;
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  /** Notification bundles received (POSTs with a Bundle body), with their status Parameters. */
  bundles(): { bundle: Bundle; status: Parameters; type: string }[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const r: Receiver = {
    url: '',
    received,
    status: 200,
    hang: false,
    waitFor(count, timeoutMs = 10_000) {
      if (received.length >= count) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${received.length} of ${count} requests`)), timeoutMs);
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(received); } });
      });
    },
    bundles() {
      return received
        .filter((x) => (x.json as Bundle | undefined)?.resourceType === 'Bundle')
        .map((x) => {
          const bundle = x.json as Bundle;
          const status = bundle.entry?.[0]?.resource as Parameters;
          const type = status.parameter?.find((p) => p.name === 'type')?.valueCode as string;
          return { bundle, status, type };
        });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      if (!r.hang) {
        res.statusCode = r.status;
        res.end(r.status >= 400 ? 'receiver secret detail that must never be echoed' : '');
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, json, at: Date.now() });
      for (const w of waiters.splice(0)) {
        if (received.length >= w.count) w.resolve();
        else waiters.push(w);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

/** A status Parameters' parameter values by name (first), and its notification-event parts. */
export function statusOf(p: Parameters) {
  const get = (n: string) => p.parameter?.find((x) => x.name === n);
  return {
    subscription: get('subscription')?.valueReference?.reference,
    topic: get('topic')?.valueCanonical,
    status: get('status')?.valueCode,
    type: get('type')?.valueCode,
    eventsSinceStart: get('events-since-subscription-start')?.valueString,
    events: (p.parameter ?? [])
      .filter((x) => x.name === 'notification-event')
      .map((x) => ({
        number: x.part?.find((y) => y.name === 'event-number')?.valueString,
        timestamp: x.part?.find((y) => y.name === 'timestamp')?.valueInstant,
        focus: x.part?.find((y) => y.name === 'focus')?.valueReference?.reference,
      })),
    error: get('error')?.valueCodeableConcept?.text,
  };
}
