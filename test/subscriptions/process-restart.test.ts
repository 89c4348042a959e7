import type { Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HookReceiver, startHookReceiver } from '../bench/hook-receiver.ts';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshProcessDatabase, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';
import { heartRate, topicSubscription } from '../bench/subscription-fixture.ts';
import { connect, isNotification, parseNotification } from './websocket-client.ts';

// Delivery is durable (DESIGN.md "Subscriptions"): a matching change is recorded as an event in
// the write's own transaction, and delivery state lives in the database. So events survive a
// clean restart and a `kill -9` of the server process, and come out once it runs again: nothing
// lost, at most the one notification that was in flight at the kill sent again (at-least-once;
// receivers tell repeats by event number, http://hl7.org/fhir/uv/subscriptions-backport/notifications.html).
//
// Real server processes (node server/src/main.ts) over one database: a PGlite data directory in a
// temp dir by default (one process at a time may open it), a fresh PostgreSQL database when
// DATABASE_URL is set. Two processes at once: process-two.test.ts (PostgreSQL only).

const TENANT = 'proc';
let shared: SharedDatabase;
let tenancy: Tenancy;
let port: number;
let base: string;
let server: ServerProcess | undefined;
let token: string;
let receiver: HookReceiver;

// Leases of a killed process expire after (max timeout + 30) s (subscriptions/delivery.ts): keep the timeout at its minimum.
const start = async () => {
  server = await startServerProcess({ shared, port, env: { SUBSCRIPTION_MAX_TIMEOUT_SECONDS: '1' } });
  token = await systemToken(base, tenancy);
};

async function fhir<T = unknown>(path: string, init: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.json ? { 'content-type': 'application/fhir+json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function create<T extends { resourceType: string }>(r: T): Promise<T & { id: string }> {
  const { status, body } = await fhir<T & { id: string }>(r.resourceType, { method: 'POST', json: r });
  expect(status).toBe(201);
  return body;
}

const eventsOf = (subId: string) => receiver.delivered().filter((e) => e.subscription === subId).map((e) => e.number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const covered = (subId: string, n: number) => () => range(1, n).every((k) => eventsOf(subId).includes(k));

async function eventsSinceStart(subId: string): Promise<string | undefined> {
  const { body } = await fhir<{ entry: { resource: Parameters }[] }>(`Subscription/${subId}/$status`);
  return body.entry[0].resource.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString;
}

beforeAll(async () => {
  shared = await freshProcessDatabase('proc');
  tenancy = await setUpTenant(shared, TENANT);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  receiver = await startHookReceiver();
  await start();
}, 180_000);

afterAll(async () => {
  await server?.kill();
  await receiver?.close();
  await shared?.drop();
});

describe(`delivery survives the server process (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite data directory'})`, () => {
  test('events a failing receiver did not take are delivered after a clean restart', async () => {
    const patient = await create({ resourceType: 'Patient', name: [{ family: 'Restart' }] });
    const sub = await create(topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${patient.id}`], channel: 'rest-hook', endpoint: receiver.url, maxCount: 1, timeoutSeconds: 1 }));
    await receiver.until(() => receiver.notifications.some((n) => n.subscription === sub.id && n.type === 'handshake'), 20_000, 'handshake');

    receiver.status = 503;
    for (let i = 0; i < 3; i++) await create(heartRate(patient.id, 60 + i));
    await receiver.until(() => receiver.notifications.some((n) => n.subscription === sub.id && n.answered === 503), 20_000, 'a refused notification');
    await server?.stop();

    receiver.status = 200;
    await start();
    await receiver.until(covered(sub.id, 3), 60_000, 'events 1-3 taken');
    expect([...new Set(eventsOf(sub.id))].sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(await eventsSinceStart(sub.id)).toBe('3');
  }, 120_000);

  test('kill -9 mid-stream: after the restart every event arrives, none lost, at most the one in flight repeated', async () => {
    const patient = await create({ resourceType: 'Patient', name: [{ family: 'Killed' }] });
    const sub = await create(topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${patient.id}`], channel: 'rest-hook', endpoint: receiver.url, maxCount: 1, timeoutSeconds: 1 }));
    await receiver.until(() => receiver.notifications.some((n) => n.subscription === sub.id && n.type === 'handshake'), 20_000, 'handshake');

    const N = 20;
    receiver.delayMs = 150; // a slow receiver, so the stream is mid-way when the process dies
    for (let i = 0; i < N; i++) await create(heartRate(patient.id, 60 + i));
    await receiver.until(() => eventsOf(sub.id).length >= 3, 30_000, 'three events taken');
    await server?.kill();
    const beforeKill = eventsOf(sub.id).length;
    expect(beforeKill).toBeLessThan(N);

    receiver.delayMs = 0;
    await start();
    await receiver.until(covered(sub.id, N), 90_000, `events 1-${N} taken`);
    const numbers = eventsOf(sub.id);
    expect([...new Set(numbers)].sort((a, b) => a - b)).toEqual(range(1, N));
    expect(numbers.length - N).toBeLessThanOrEqual(1);
    // In order: each notification carries the next number, or repeats the one cut off by the kill.
    for (let i = 1; i < numbers.length; i++) expect(numbers[i] - numbers[i - 1]).toBeLessThanOrEqual(1);
    expect(await eventsSinceStart(sub.id)).toBe(String(N));
  }, 180_000);

  test('kill -9 with a websocket bound: its binding token still binds on the restarted process, which sends what was missed', async () => {
    const patient = await create({ resourceType: 'Patient', name: [{ family: 'Socket' }] });
    const sub = await create<Subscription>(topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${patient.id}`], channel: 'websocket', payload: 'id-only', maxCount: 1 }));
    const { body } = await fhir<Parameters>(`Subscription/${sub.id}/$get-ws-binding-token`, { method: 'POST' });
    const wsUrl = body.parameter?.find((p) => p.name === 'websocket-url')?.valueUrl as string;
    const bindToken = body.parameter?.find((p) => p.name === 'token')?.valueString as string;

    const first = await connect(wsUrl);
    first.bind(bindToken);
    await first.until(isNotification('handshake', sub.id));
    for (let i = 0; i < 2; i++) await create(heartRate(patient.id));
    await first.until(isNotification('event-notification', sub.id), 2);
    await server?.kill();
    expect(await first.closed).toBe(1006); // abnormal closure: the process is gone

    await start();
    for (let i = 0; i < 2; i++) await create(heartRate(patient.id));
    const second = await connect(wsUrl);
    second.bind(bindToken);
    const [handshake] = await second.until(isNotification('handshake', sub.id));
    expect(parseNotification(handshake)?.eventsSinceStart).toBe('4');
    // If the kill fell between sending event 2 and recording it, the dead process's lease on the
    // Subscription holds for (max timeout + 30) s = 31 s before the new process may deliver: wait past it.
    await second.until((m) => isNotification('event-notification', sub.id)(m) && Boolean(parseNotification(m)?.events.some((e) => e.number === '4')), 1, 45_000);
    const numbers = (socket: typeof first) =>
      socket.notifications().filter((n) => n.type === 'event-notification').flatMap((n) => n.events.map((e) => Number(e.number)));
    expect(numbers(first)).toEqual([1, 2]);
    // Nothing lost, in order; event 2 may come again if the kill fell between sending it and
    // recording it as delivered (at-least-once), but nothing older.
    const again = numbers(second);
    expect(again[0]).toBeGreaterThanOrEqual(2);
    expect(again).toEqual(range(again[0], 4));
    second.close();
  }, 120_000);
});
