import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver, statusOf } from './receiver.ts';
import { topicSubscription } from './subscription-fixtures.ts';

/**
 * Never lose an event, never loop forever: failed notifications are retried with capped
 * exponential backoff (1 s, 2 s, … here with SUBSCRIPTION_MAX_ATTEMPTS=3), then the subscription
 * goes to `error` and keeps counting events until the client asks for it again; a rolled-back
 * change is never an event; R4 criteria subscriptions get the resource or an empty POST.
 */
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '0', SUBSCRIPTION_MAX_ATTEMPTS: '3', SUBSCRIPTION_BACKOFF_MAX_SECONDS: '2' });
});
afterAll(async () => {
  await s?.close();
});

async function create<T>(type: string, body: object): Promise<T> {
  const res = await s.fhir(type, { method: 'POST', json: body });
  expect(res.status).toBe(201);
  return (await res.json()) as T;
}
const run = () => s.server.loops.subscriptions.runOnce();
const read = async (id: string) => (await (await s.fhir(`Subscription/${id}`)).json()) as Subscription;
const statusNow = async (id: string) => statusOf((((await (await s.fhir(`Subscription/${id}/$status`)).json()) as Bundle).entry?.[0]?.resource) as Parameters);

describe('retries, error and re-activation', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver();
  });
  afterAll(() => rx.close());

  test('a failing endpoint is retried with backoff, then the subscription is in error, in our words only', async () => {
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Flag`, rx.url, 'id-only'));
    await run();
    await rx.waitFor(1); // handshake
    expect((await read(sub.id as string)).status).toBe('active');
    rx.status = 500;
    const flag = { resourceType: 'Flag', status: 'active', code: { text: 'x' }, subject: { reference: 'Patient/p1' } };
    await create('Flag', flag);
    await run();
    await rx.waitFor(2); // attempt 1 fails
    await run();
    expect(rx.received).toHaveLength(2); // backing off: not due yet
    s.clock.advance(1000);
    await run();
    await rx.waitFor(3); // attempt 2
    s.clock.advance(1000);
    await run();
    expect(rx.received).toHaveLength(3); // the second wait is 2 s
    s.clock.advance(1000);
    await run();
    await rx.waitFor(4); // attempt 3: the last
    // All three attempts carried the same event 1.
    expect(rx.received.slice(1).map((x) => statusOf((x.json as Bundle).entry?.[0]?.resource as Parameters).events.map((e) => e.number))).toEqual([['1'], ['1'], ['1']]);
    const errored = await read(sub.id as string);
    expect(errored.status).toBe('error');
    expect(errored.error).toContain('HTTP 500');
    expect(JSON.stringify(errored)).not.toContain('receiver secret');
    const st = await statusNow(sub.id as string);
    expect(st.status).toBe('error');
    expect(st.error).toContain('HTTP 500');
    expect(JSON.stringify(st)).not.toContain('receiver secret');

    // Events keep counting while in error; nothing is sent.
    await create('Flag', flag);
    s.clock.advance(60_000);
    await run();
    expect(rx.received).toHaveLength(4);
    expect((await statusNow(sub.id as string)).eventsSinceStart).toBe('2');

    // The client asks again: handshake, active, then the backlog (events 1 and 2) in one notification.
    rx.status = 200;
    const res = await s.fhir(`Subscription/${sub.id}`, { method: 'PUT', json: { ...errored, status: 'requested' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Subscription).status).toBe('requested');
    await run();
    await rx.waitFor(5);
    expect(statusOf((rx.received[4].json as Bundle).entry?.[0]?.resource as Parameters).type).toBe('handshake');
    await run();
    await rx.waitFor(6);
    const backlog = statusOf((rx.received[5].json as Bundle).entry?.[0]?.resource as Parameters);
    expect(backlog.type).toBe('event-notification');
    expect(backlog.events.map((e) => e.number)).toEqual(['1', '2']);
    const again = await read(sub.id as string);
    expect(again.status).toBe('active');
    expect(again.error).toBeUndefined();
  });

  test('a failed handshake puts the subscription in error at once', async () => {
    rx.status = 503;
    const n = rx.received.length;
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Flag`, rx.url, 'empty'));
    await run();
    await rx.waitFor(n + 1);
    const got = await read(sub.id as string);
    expect(got.status).toBe('error');
    expect(got.error).toContain('Handshake failed');
    rx.status = 200;
  });

  test("a receiver that does not answer within the subscription's timeout fails the notification", async () => {
    rx.hang = true;
    const n = rx.received.length;
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Flag`, rx.url, 'empty', { timeout: 1 }));
    const started = Date.now();
    await run();
    await rx.waitFor(n + 1);
    expect(Date.now() - started).toBeLessThan(5000);
    const got = await read(sub.id as string);
    expect(got.status).toBe('error');
    expect(got.error).toContain('did not answer in time');
    rx.hang = false;
  });

  test('an endpoint nobody listens on is an error, not a crash', async () => {
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Flag`, 'http://127.0.0.1:9/hook', 'empty'));
    await run();
    const got = await read(sub.id as string);
    expect(got.status).toBe('error');
    expect(got.error).toContain('connection failed');
  });
});

describe('the outbox is part of the write', () => {
  test('a rolled-back transaction records no event; a committed bundle records one per matching entry, in order', async () => {
    const rx = await startReceiver();
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Encounter`, rx.url, 'id-only'));
    await run();
    const enc = (status: string) => ({ resource: { resourceType: 'Encounter', status, class: { code: 'AMB' } }, request: { method: 'POST', url: 'Encounter' } });
    const failed = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [enc('planned'), { resource: { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' }, notAnElement: true }, request: { method: 'POST', url: 'Encounter' } }] } });
    expect(failed.status).toBe(400);
    expect((await statusNow(sub.id as string)).eventsSinceStart).toBe('0');
    const ok = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [enc('planned'), enc('arrived'), enc('finished')] } });
    expect(ok.status).toBe(200);
    const ids = (((await ok.json()) as Bundle).entry ?? []).map((e) => e.response?.location?.split('/')[1]);
    await run();
    await rx.waitFor(2);
    const st = statusOf((rx.received[1].json as Bundle).entry?.[0]?.resource as Parameters);
    expect(st.events.map((e) => [e.number, e.focus])).toEqual(ids.map((id, i) => [String(i + 1), `${s.fhirBase}/Encounter/${id}`]));
    await rx.close();
  });

  test('maxCount splits a backlog into several notifications', async () => {
    const rx = await startReceiver();
    await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Basic`, rx.url, 'id-only', { maxCount: 2 }));
    await run();
    for (let i = 0; i < 5; i++) await create('Basic', { resourceType: 'Basic', code: { text: `b${i}` } });
    // One round delivers one notification per subscription; the loop goes again while there is work.
    while ((await run()) > 0);
    await rx.waitFor(4);
    const numbers = rx.received.slice(1).map((x) => statusOf((x.json as Bundle).entry?.[0]?.resource as Parameters).events.map((e) => e.number));
    expect(numbers).toEqual([['1', '2'], ['3', '4'], ['5']]);
    await rx.close();
  });
});

describe('classic R4 criteria subscriptions', () => {
  test('rest-hook with a payload POSTs the matching resource; without one, an empty POST', async () => {
    const rx = await startReceiver();
    const classic = (payload?: string): Subscription => ({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'classic',
      criteria: 'Observation?code=http://loinc.org|44261-6',
      channel: { type: 'rest-hook', endpoint: rx.url, header: ['X-Classic: yes'], ...(payload ? { payload } : {}) },
    });
    const withBody = await create<Subscription>('Subscription', classic('application/fhir+json'));
    const noBody = await create<Subscription>('Subscription', classic());
    expect(withBody.status).toBe('active'); // R4 criteria subscriptions have no handshake
    await create('Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '00000-0' }] } });
    const phq = await create<{ id: string }>('Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] } });
    await run();
    await rx.waitFor(2);
    expect(rx.received).toHaveLength(2);
    const full = rx.received.find((x) => x.body) as { json: { id: string; resourceType: string }; headers: Record<string, unknown> };
    expect(full.json).toMatchObject({ resourceType: 'Observation', id: phq.id });
    expect(full.headers['content-type']).toBe('application/fhir+json');
    const empty = rx.received.find((x) => !x.body);
    expect(empty?.headers['x-classic']).toBe('yes');
    expect(empty?.headers['content-length']).toBe('0');
    expect(noBody.id).toBeDefined();
    await rx.close();
  });

  test('criteria on an unknown parameter is refused naming Subscription.criteria', async () => {
    const res = await s.fhir('Subscription', { method: 'POST', json: { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Observation?nonsense=1', channel: { type: 'rest-hook', endpoint: 'https://example.org/hook' } } });
    expect(res.status).toBe(400);
    expect((await res.json()).issue[0].expression).toEqual(['Subscription.criteria']);
  });
});
