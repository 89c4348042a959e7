import http from 'node:http';
import https from 'node:https';
import type { Bundle } from '@medplum/fhirtypes';
import type { Channel, NotificationType, SubscriptionRow } from '../channel.ts';
import { pinnedLookup } from '../../net/outbound-address.ts';
import { resolveEndpoint } from '../endpoint-safety.ts';
import { stringifyJson } from '../../kernel/json.ts';

/**
 * The rest-hook channel (Backport IG 1.1 https://hl7.org/fhir/uv/subscriptions-backport/channels.html#rest-hook):
 * POST the notification Bundle to channel.endpoint, Content-Type = channel.payload, each
 * channel.header as a request header. Classic R4 criteria subscriptions
 * (https://hl7.org/fhir/R4/subscription.html#2.46.7.1) get a POST with no body, or the resource.
 *
 * Safety: the address is checked after DNS resolution and the connection made to exactly that
 * address (./endpoint-safety.ts); redirects are not followed; the receiver has the subscription's
 * timeout, capped; at most a small part of its answer is read and none of it is kept or echoed —
 * a failure is described in our words (timeout, connection failed, HTTP status).
 */
export interface RestHookOptions {
  allowedHosts: readonly string[];
  /** Upper bound on any subscription's timeout, seconds. */
  maxTimeoutSeconds: number;
}

const MAX_RESPONSE_BYTES = 64 * 1024;
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

export type RestHookTarget = Pick<SubscriptionRow, 'endpoint' | 'headers' | 'timeoutSeconds' | 'contentType'>;

/** POSTs `body` (or nothing) to the target's endpoint; resolves on a 2xx, rejects with our own words otherwise. */
export async function postToEndpoint(target: RestHookTarget, body: string | undefined, options: RestHookOptions): Promise<void> {
  if (!target.endpoint) throw new Error('no endpoint');
  const url = new URL(target.endpoint);
  const { address, family } = await resolveEndpoint(url, options.allowedHosts);
  const headers: Record<string, string | number> = { 'user-agent': 'bh-fhir-subscriptions' };
  for (const h of target.headers) {
    const i = h.indexOf(':');
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const bytes = body === undefined ? undefined : Buffer.from(body, 'utf8');
  if (bytes) headers['content-type'] = target.contentType ?? 'application/fhir+json';
  headers['content-length'] = bytes?.length ?? 0;
  const timeoutMs = Math.max(1, Math.min(target.timeoutSeconds, options.maxTimeoutSeconds)) * 1000;
  const secure = url.protocol === 'https:';
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const req = (secure ? https : http).request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers,
        lookup: pinnedLookup(address, family),
        agent: secure ? agents.https : agents.http,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('end', () => done(status >= 200 && status < 300 ? undefined : new Error(`endpoint answered HTTP ${status}`)));
        res.on('close', () => done(status >= 200 && status < 300 ? undefined : new Error(`endpoint answered HTTP ${status}`)));
        res.on('error', () => done(new Error('endpoint connection failed')));
      }
    );
    const timer = setTimeout(() => {
      done(new Error('endpoint did not answer in time'));
      req.destroy();
    }, timeoutMs);
    req.on('error', () => done(new Error('endpoint connection failed')));
    req.end(bytes);
  });
}

export function createRestHookChannel(options: RestHookOptions): Channel {
  return {
    type: 'rest-hook',
    canDeliver: (sub) => sub.channelType === 'rest-hook' && Boolean(sub.endpoint),
    send: (sub: SubscriptionRow, bundle: Bundle, _type: NotificationType) => postToEndpoint(sub, stringifyJson(bundle), options),
  };
}
