import type { Parameters } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HookReceiver, startHookReceiver } from '../bench/hook-receiver.ts';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshPostgres, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';
import { heartRate, topicSubscription } from '../bench/subscription-fixture.ts';
import { connect, isNotification } from './websocket-client.ts';

// Two server processes (node server/src/main.ts) on one PostgreSQL database, as two nodes behind a
// load balancer: writes land on either, both run the delivery loop, and each subscription is
// claimed by one process at a time (FOR UPDATE SKIP LOCKED leases, subscriptions/delivery.ts), so
// no event is sent twice. A websocket is served by whichever process holds it: events written
// through the other process reach it (NOTIFY wakes its loop). PGlite lives inside one process, so
// this file needs PostgreSQL; the single-process restart and kill -9 tests run on both
// (process-restart.test.ts).

const TENANT = 'two';
let shared: SharedDatabase;
let tenancy: Tenancy;
let base: string;
let a: ServerProcess | undefined;
let b: ServerProcess | undefined;
let token: string;
let receiver: HookReceiver;

async function fhir<T = unknown>(on: ServerProcess, path: string, init: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${on.url}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.json ? { 'content-type': 'application/fhir+json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function create<T extends { resourceType: string }>(on: ServerProcess, r: T): Promise<T & { id: string }> {
  const { status, body } = await fhir<T & { id: string }>(on, r.resourceType, { method: 'POST', json: r });
  expect(status).toBe(201);
  return body;
}

const eventsOf = (subId: string) => receiver.delivered().filter((e) => e.subscription === subId).map((e) => e.number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const handshaken = (ids: string[]) => () => ids.every((id) => receiver.notifications.some((n) => n.subscription === id && n.type === 'handshake'));

/** Rest-hook subscriptions, one per new patient, each event in its own notification. */
async function hookSubscriptions(count: number, family: string): Promise<{ patient: string; sub: string }[]> {
  const out: { patient: string; sub: string }[] = [];
  for (let i = 0; i < count; i++) {
    const on = i % 2 ? (b as ServerProcess) : (a as ServerProcess);
    const patient = (await create(on, { resourceType: 'Patient', name: [{ family: `${family}${i}` }] })).id;
    const sub = await create(on, topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${patient}`], channel: 'rest-hook', endpoint: receiver.url, maxCount: 1, timeoutSeconds: 1 }));
    out.push({ patient, sub: sub.id });
  }
  await receiver.until(handshaken(out.map((x) => x.sub)), 30_000, 'handshakes');
  return out;
}

async function settled(ids: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: shared.url });
  await c.connect();
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await c.query(
        'SELECT count(*)::int AS n FROM subscription WHERE id = ANY($1) AND delivered_through = events_since_start AND lease_owner IS NULL',
        [ids]
      );
      if (rows[0].n === ids.length) return;
      if (Date.now() > deadline) throw new Error('subscriptions did not settle');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await c.end();
  }
}

/** `perPatient` Observations for each patient, written by 8 writers through both processes in turn. */
async function writeThroughBoth(patients: string[], perPatient: number): Promise<void> {
  const jobs = patients.flatMap((p) => Array.from({ length: perPatient }, () => p));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) {
        const k = next++;
        await create(k % 2 ? (b as ServerProcess) : (a as ServerProcess), heartRate(jobs[k], 60 + (k % 40)));
      }
    })
  );
}

describe.runIf(process.env.DATABASE_URL)('two server processes on one PostgreSQL (needs DATABASE_URL)', () => {
  beforeAll(async () => {
    shared = await freshPostgres(process.env.DATABASE_URL as string, 'two');
    tenancy = await setUpTenant(shared, TENANT);
    // One public base URL for both (tokens name it), each process on its own port.
    const portA = await freePort();
    base = `http://127.0.0.1:${portA}`;
    const env = { SUBSCRIPTION_MAX_TIMEOUT_SECONDS: '1' };
    a = await startServerProcess({ shared, port: portA, baseUrl: base, env });
    b = await startServerProcess({ shared, baseUrl: base, env });
    token = await systemToken(base, tenancy);
    receiver = await startHookReceiver();
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await receiver?.close();
    await shared?.drop();
  });

  test('writes through both processes: every event delivered exactly once, in order', async () => {
    const subs = await hookSubscriptions(4, 'Both');
    await writeThroughBoth(
      subs.map((s) => s.patient),
      25
    );
    for (const { sub } of subs) await receiver.until(() => range(25).every((k) => eventsOf(sub).includes(k)), 60_000, `events of ${sub}`);
    // Once every subscription is delivered through its last event with no claim held, neither
    // process has anything left to send: what the receiver holds now is final.
    await settled(subs.map((s) => s.sub));
    for (const { sub } of subs) expect(eventsOf(sub)).toEqual(range(25));
  }, 120_000);

  test('a websocket bound on one process gets the events written through the other, once each', async () => {
    const A = a as ServerProcess;
    const B = b as ServerProcess;
    const patient = (await create(B, { resourceType: 'Patient', name: [{ family: 'Across' }] })).id;
    const sub = await create(B, topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${patient}`], channel: 'websocket', payload: 'id-only', maxCount: 1 }));
    // The token comes from process B; the socket goes to process A (tokens live in the database).
    const { body } = await fhir<Parameters>(B, `Subscription/${sub.id}/$get-ws-binding-token`, { method: 'POST' });
    const bindToken = body.parameter?.find((p) => p.name === 'token')?.valueString as string;
    const c = await connect(`ws://127.0.0.1:${A.port}/ws/subscriptions`);
    c.bind(bindToken);
    await c.until(isNotification('handshake', sub.id));
    for (let i = 0; i < 10; i++) await create(B, heartRate(patient, 70 + i));
    await c.until(isNotification('event-notification', sub.id), 10, 30_000);
    const numbers = c.notifications().filter((n) => n.type === 'event-notification').flatMap((n) => n.events.map((e) => Number(e.number)));
    expect(numbers).toEqual(range(10));
    c.close();
  }, 60_000);

  test('kill -9 of one process mid-stream: the other delivers the rest once its lease expires', async () => {
    const subs = await hookSubscriptions(4, 'Survivor');
    receiver.delayMs = 100;
    await writeThroughBoth(
      subs.map((s) => s.patient),
      10
    );
    await receiver.until(() => subs.every((s) => eventsOf(s.sub).length >= 1), 30_000, 'some events of each');
    await a?.kill();
    receiver.delayMs = 0;
    for (const { sub } of subs) await receiver.until(() => range(10).every((k) => eventsOf(sub).includes(k)), 90_000, `events of ${sub}`);
    for (const { sub } of subs) {
      const numbers = eventsOf(sub);
      expect([...new Set(numbers)].sort((x, y) => x - y)).toEqual(range(10));
      // At-least-once across a crash: only the notification in flight at the kill may come twice.
      expect(numbers.length - 10).toBeLessThanOrEqual(1);
    }
  }, 180_000);
});
