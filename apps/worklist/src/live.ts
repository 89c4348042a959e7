import type { MedplumClient } from '@medplum/core';
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { useEffect, useRef, useState } from 'react';
import { RISK_TOPIC } from './risk.ts';

/**
 * Live updates of the risk Tasks through a websocket Subscription (Subscriptions Backport IG 1.1,
 * server/src/subscriptions/WEBSOCKET.md): one Subscription per user on the risk-task topic, found
 * again and reused on every launch (so they never pile up), bound with a short-lived token; every
 * notification that carries a focus (an event this person may see) triggers a refetch. When the
 * socket cannot be opened or drops, the worklist polls and says so, and reconnects with backoff.
 */
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const LIVE_REASON = 'Worklist: live updates of risk follow-up Tasks';
export const POLL_MS = 30_000;
const HEARTBEAT_S = 60;

export type LiveState = { kind: 'connecting' } | { kind: 'live' } | { kind: 'polling'; why: string };

function subscriptionResource(): Subscription {
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BACKPORT}/backport-subscription`] },
    status: 'active',
    reason: LIVE_REASON,
    criteria: RISK_TOPIC,
    channel: {
      type: 'websocket',
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
      extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: HEARTBEAT_S }],
    } as Subscription['channel'],
  };
}

/**
 * This user's worklist Subscription: the first of theirs (the server shows each person only
 * their own) with our reason and topic, written again as active (its access is that of the last
 * writer, i.e. this session); extra copies from earlier sessions are deleted.
 */
export async function ensureSubscription(medplum: MedplumClient): Promise<string> {
  const bundle = (await medplum.search('Subscription', 'type=websocket&_count=100')) as Bundle<Subscription>;
  const mine = (bundle.entry ?? []).map((e) => e.resource as Subscription).filter((s) => s.reason === LIVE_REASON && s.criteria === RISK_TOPIC);
  const [keep, ...extra] = mine;
  for (const s of extra) await medplum.deleteResource('Subscription', s.id as string).catch(() => undefined);
  if (keep) {
    const updated = await medplum.updateResource<Subscription>({ ...subscriptionResource(), id: keep.id, meta: { ...keep.meta, profile: subscriptionResource().meta?.profile } });
    return (updated?.id ?? keep.id) as string;
  }
  return (await medplum.createResource<Subscription>(subscriptionResource())).id as string;
}

async function bindingToken(medplum: MedplumClient, id: string): Promise<{ token: string; url: string; expires: number }> {
  const out = (await medplum.post(medplum.fhirUrl('Subscription', id, '$get-ws-binding-token'), { resourceType: 'Parameters' })) as Parameters;
  const p = (name: string) => out.parameter?.find((x) => x.name === name);
  const token = p('token')?.valueString;
  const url = p('websocket-url')?.valueUrl ?? p('websocket-url')?.valueString;
  if (!token || !url) throw new Error('no binding token');
  return { token, url, expires: new Date(p('expiration')?.valueDateTime ?? Date.now() + 600_000).getTime() };
}

/** What a notification Bundle says: its type and whether any event names a focus this person may see. */
export function readNotification(data: string): { type?: string; visibleEvent: boolean; refused?: string } {
  const msg = JSON.parse(data) as Bundle | { resourceType: 'OperationOutcome'; issue?: { diagnostics?: string }[] };
  if (msg.resourceType === 'OperationOutcome') return { visibleEvent: false, refused: msg.issue?.[0]?.diagnostics ?? 'refused' };
  const status = (msg as Bundle).entry?.[0]?.resource as Parameters | undefined;
  const type = status?.parameter?.find((p) => p.name === 'type')?.valueCode;
  const visibleEvent = (status?.parameter ?? []).some((p) => p.name === 'notification-event' && p.part?.some((x) => x.name === 'focus'));
  return { type, visibleEvent };
}

/**
 * Keeps the risk list fresh: calls `refresh` on every visible event and on (re)binding (to catch
 * up), and every POLL_MS while the socket is down. Returns the state to show to the person.
 */
export function useLiveUpdates(medplum: MedplumClient, refresh: () => void): LiveState {
  const [state, setState] = useState<LiveState>({ kind: 'connecting' });
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  useEffect(() => {
    let stopped = false;
    let socket: WebSocket | undefined;
    let subscriptionId: string | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let rebind: ReturnType<typeof setTimeout> | undefined;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;

    const startPolling = (why: string) => {
      setState({ kind: 'polling', why });
      poll ??= setInterval(() => refreshRef.current(), POLL_MS);
    };
    const stopPolling = () => {
      if (poll) clearInterval(poll);
      poll = undefined;
    };
    const clearTimers = () => {
      if (rebind) clearTimeout(rebind);
      if (watchdog) clearTimeout(watchdog);
      rebind = watchdog = undefined;
    };
    // No message (heartbeat included) for three heartbeat periods: the connection is dead.
    const feedWatchdog = () => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => socket?.close(), HEARTBEAT_S * 3 * 1000);
    };
    const scheduleRebind = (expires: number) => {
      if (rebind) clearTimeout(rebind);
      rebind = setTimeout(() => {
        if (!subscriptionId || !socket || socket.readyState !== WebSocket.OPEN) return;
        bindingToken(medplum, subscriptionId).then(
          (b) => {
            socket?.send(`bind-with-token: ${b.token}`);
            scheduleRebind(b.expires);
          },
          () => socket?.close()
        );
      }, Math.max(5_000, expires - Date.now() - 60_000));
    };
    const reconnectLater = (why: string) => {
      if (stopped) return;
      startPolling(why);
      failures++;
      const delay = Math.min(60_000, 2_000 * 2 ** Math.min(failures, 5));
      retry = setTimeout(() => void connect(), delay);
    };

    const connect = async () => {
      if (stopped) return;
      try {
        subscriptionId ??= await ensureSubscription(medplum);
        const binding = await bindingToken(medplum, subscriptionId);
        if (stopped) return;
        const ws = new WebSocket(binding.url);
        socket = ws;
        ws.onopen = () => {
          ws.send(`bind-with-token: ${binding.token}`);
          scheduleRebind(binding.expires);
          feedWatchdog();
        };
        ws.onmessage = (m) => {
          feedWatchdog();
          let n: ReturnType<typeof readNotification>;
          try {
            n = readNotification(String(m.data));
          } catch {
            return;
          }
          if (n.refused) {
            ws.close();
            return;
          }
          if (n.type === 'handshake') {
            failures = 0;
            stopPolling();
            setState({ kind: 'live' });
            refreshRef.current();
          } else if (n.type === 'event-notification' && n.visibleEvent) {
            refreshRef.current();
          }
        };
        ws.onclose = () => {
          if (socket !== ws) return;
          socket = undefined;
          clearTimers();
          reconnectLater('The live connection dropped.');
        };
      } catch {
        reconnectLater('The live connection could not be opened.');
      }
    };
    void connect();
    return () => {
      stopped = true;
      stopPolling();
      clearTimers();
      if (retry) clearTimeout(retry);
      const s = socket;
      socket = undefined;
      s?.close();
    };
  }, [medplum]);
  return state;
}
