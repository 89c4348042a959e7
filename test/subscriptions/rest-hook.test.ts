import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver, statusOf } from './receiver.ts';
import { topicSubscription } from './subscription-fixtures.ts';

/**
 * Topic-based rest-hook subscriptions against the Backport IG 1.1
 * (https://hl7.org/fhir/uv/subscriptions-backport/): a real receiving HTTP server, the delivery
 * loop driven by the test (SUBSCRIPTION_POLL_MS=0, `runOnce()` after each change).
 */
const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic';

let s: TestServer;
let rx: Receiver;
beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '0' });
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await s?.close();
});

async function create<T>(type: string, body: object): Promise<T> {
  const res = await s.fhir(type, { method: 'POST', json: body });
  expect(res.status).toBe(201);
  return (await res.json()) as T;
}

const since = (n: number) => rx.received.slice(n);

describe('rest-hook handshake and notifications', () => {
  let sub: Subscription;
  let patientId: string;

  test('a new rest-hook subscription is requested, handshaken with its headers, then active', async () => {
    const before = rx.received.length;
    sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/encounter`, rx.url, 'id-only', { headers: ['Authorization: Bearer receiver-secret', 'X-Trace: abc'] }));
    expect(sub.status).toBe('requested');
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const [hs] = since(before);
    expect(hs.headers['authorization']).toBe('Bearer receiver-secret');
    expect(hs.headers['x-trace']).toBe('abc');
    expect(hs.headers['content-type']).toBe('application/fhir+json');
    const bundle = hs.json as Bundle;
    expect(bundle.type).toBe('history');
    const st = statusOf(bundle.entry?.[0]?.resource as Parameters);
    expect(st.type).toBe('handshake');
    expect(st.status).toBe('requested');
    expect(st.subscription).toBe(`${s.fhirBase}/Subscription/${sub.id}`);
    expect(st.eventsSinceStart).toBe('0');
    expect(st.events).toEqual([]);
    const read = (await (await s.fhir(`Subscription/${sub.id}`)).json()) as Subscription;
    expect(read.status).toBe('active');
    expect(Number(read.meta?.versionId)).toBe(2);
  });

  test('an Encounter change becomes an id-only event-notification: status entry, event number, focus, fullUrl and request', async () => {
    const patient = await create<{ id: string }>('Patient', { resourceType: 'Patient', name: [{ family: 'Hook' }] });
    patientId = patient.id;
    const before = rx.received.length;
    const enc = await create<{ id: string }>('Encounter', { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' }, subject: { reference: `Patient/${patientId}` } });
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const bundle = since(before)[0].json as Bundle;
    expect(bundle.type).toBe('history');
    expect(bundle.entry?.[0]?.resource?.resourceType).toBe('Parameters');
    expect((bundle.entry?.[0]?.resource as Parameters).meta?.profile).toContain(`${BP}/backport-subscription-status-r4`);
    const st = statusOf(bundle.entry?.[0]?.resource as Parameters);
    expect(st.type).toBe('event-notification');
    expect(st.status).toBe('active');
    expect(st.topic).toBe(`${TOPIC}/encounter`);
    expect(st.eventsSinceStart).toBe('1');
    expect(st.events).toHaveLength(1);
    expect(st.events[0].number).toBe('1');
    expect(st.events[0].focus).toBe(`${s.fhirBase}/Encounter/${enc.id}`);
    expect(bundle.entry).toHaveLength(2);
    expect(bundle.entry?.[1]).toMatchObject({ fullUrl: `${s.fhirBase}/Encounter/${enc.id}`, request: { method: 'POST', url: 'Encounter' } });
    expect(bundle.entry?.[1]?.resource).toBeUndefined();

    // Two updates are events 2 and 3 (one notification), a delete event 4: numbered without gaps in commit order.
    const b2 = rx.received.length;
    for (const status of ['arrived', 'finished']) {
      const upd = await s.fhir(`Encounter/${enc.id}`, { method: 'PUT', json: { resourceType: 'Encounter', id: enc.id, status, class: { code: 'AMB' }, subject: { reference: `Patient/${patientId}` } } });
      expect(upd.status).toBe(200);
    }
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(b2 + 1);
    const n2 = since(b2)[0].json as Bundle;
    const st2 = statusOf(n2.entry?.[0]?.resource as Parameters);
    expect(st2.events.map((e) => e.number)).toEqual(['2', '3']);
    expect(st2.eventsSinceStart).toBe('3');
    expect(n2.entry?.slice(1).map((e) => e.request)).toEqual([
      { method: 'PUT', url: `Encounter/${enc.id}` },
      { method: 'PUT', url: `Encounter/${enc.id}` },
    ]);

    const b3 = rx.received.length;
    expect((await s.fhir(`Encounter/${enc.id}`, { method: 'DELETE' })).status).toBe(200);
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(b3 + 1);
    const n3 = since(b3)[0].json as Bundle;
    expect(statusOf(n3.entry?.[0]?.resource as Parameters).events.map((e) => [e.number, e.focus])).toEqual([['4', `${s.fhirBase}/Encounter/${enc.id}`]]);
    expect(n3.entry?.[1]?.request).toEqual({ method: 'DELETE', url: `Encounter/${enc.id}` });
  });

  test('full-resource carries the resource; empty carries no focus, no topic and no other entry', async () => {
    const full = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Observation`, rx.url, 'full-resource'));
    const empty = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Observation`, rx.url, 'empty'));
    await s.server.loops.subscriptions.runOnce(); // two handshakes
    const before = rx.received.length;
    const obs = await create<{ id: string }>('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'mood' }, subject: { reference: `Patient/${patientId}` } });
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 2);
    const got = since(before).map((x) => x.json as Bundle);
    const bySub = (id: string) => got.find((b) => statusOf(b.entry?.[0]?.resource as Parameters).subscription?.endsWith(`/Subscription/${id}`)) as Bundle;
    const f = bySub(full.id as string);
    expect(statusOf(f.entry?.[0]?.resource as Parameters).topic).toBe(`${TOPIC}/resource/Observation`);
    expect(f.entry?.[1]?.resource).toMatchObject({ resourceType: 'Observation', id: obs.id, status: 'final' });
    const e = bySub(empty.id as string);
    const est = statusOf(e.entry?.[0]?.resource as Parameters);
    expect(e.entry).toHaveLength(1);
    expect(est.topic).toBeUndefined();
    expect(est.events).toEqual([{ number: '1', timestamp: expect.any(String), focus: undefined }]);
  });

  test('filters narrow a topic: only the named patient, only the named status', async () => {
    const other = await create<{ id: string }>('Patient', { resourceType: 'Patient', name: [{ family: 'Other' }] });
    const filtered = await create<Subscription>(
      'Subscription',
      topicSubscription(`${TOPIC}/appointment`, rx.url, 'id-only', { filters: [`Appointment?patient=Patient/${patientId}`, 'Appointment?status=booked'] })
    );
    await s.server.loops.subscriptions.runOnce();
    const before = rx.received.length;
    const appt = (patient: string, status: string) =>
      create<{ id: string }>('Appointment', { resourceType: 'Appointment', status, start: '2026-12-10T10:00:00Z', end: '2026-12-10T11:00:00Z', participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }] });
    await appt(other.id, 'booked');
    await appt(patientId, 'proposed');
    const mine = await appt(patientId, 'booked');
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const got = since(before).map((x) => x.json as Bundle).filter((b) => statusOf(b.entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${filtered.id}`));
    expect(got).toHaveLength(1);
    const st = statusOf(got[0].entry?.[0]?.resource as Parameters);
    expect(st.events).toHaveLength(1);
    expect(st.events[0].focus).toBe(`${s.fhirBase}/Appointment/${mine.id}`);
  });

  test('$status (instance and type) reports status and events since start; $events replays stored events', async () => {
    const inst = (await (await s.fhir(`Subscription/${sub.id}/$status`)).json()) as Bundle;
    expect(inst.type).toBe('searchset');
    expect(inst.entry).toHaveLength(1);
    const st = statusOf(inst.entry?.[0]?.resource as Parameters);
    expect(st).toMatchObject({ type: 'query-status', status: 'active', eventsSinceStart: '4', subscription: `${s.fhirBase}/Subscription/${sub.id}` });

    const typed = (await (await s.fhir(`Subscription/$status?id=${sub.id}&status=active`)).json()) as Bundle;
    expect(typed.entry?.map((e) => statusOf(e.resource as Parameters).subscription)).toEqual([`${s.fhirBase}/Subscription/${sub.id}`]);
    const none = (await (await s.fhir(`Subscription/$status?id=${sub.id}&status=error`)).json()) as Bundle;
    expect(none.entry ?? []).toHaveLength(0);

    const ev = (await (await s.fhir(`Subscription/${sub.id}/$events?eventsSinceNumber=2&eventsUntilNumber=3`)).json()) as Bundle;
    expect(ev.type).toBe('history');
    const est = statusOf(ev.entry?.[0]?.resource as Parameters);
    expect(est.type).toBe('query-event');
    expect(est.events.map((e) => e.number)).toEqual(['2', '3']);
    const asEmpty = (await (await s.fhir(`Subscription/${sub.id}/$events?eventsSinceNumber=1&content=empty`, { method: 'POST', json: undefined })).json()) as Bundle;
    expect(statusOf(asEmpty.entry?.[0]?.resource as Parameters).events.map((e) => e.focus)).toEqual([undefined, undefined, undefined, undefined]);
    expect(asEmpty.entry).toHaveLength(1);

    const bad = await s.fhir(`Subscription/${sub.id}/$events?content=everything`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).issue[0].expression).toEqual(['content']);
    expect((await s.fhir('Subscription/nope/$status')).status).toBe(404);
  });

  test('a heartbeat goes out when heartbeatPeriod passes without a notification', async () => {
    const hb = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Flag`, rx.url, 'empty', { heartbeat: 60 }));
    await s.server.loops.subscriptions.runOnce(); // handshake
    const before = rx.received.length;
    await s.server.loops.subscriptions.runOnce();
    expect(rx.received.length).toBe(before); // not yet due
    s.clock.advance(61_000);
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const beats = since(before).map((x) => x.json as Bundle).filter((b) => statusOf(b.entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${hb.id}`));
    expect(beats).toHaveLength(1);
    expect(statusOf(beats[0].entry?.[0]?.resource as Parameters)).toMatchObject({ type: 'heartbeat', status: 'active', eventsSinceStart: '0', events: [] });
  });
});

describe('refusals name the element', () => {
  const cases: [string, (sub: Subscription) => Subscription, string][] = [
    ['unknown topic', (x) => ({ ...x, criteria: `${TOPIC}/no-such-topic` }), 'Subscription.criteria'],
    ['filter on a parameter the topic does not offer', (x) => ({ ...x, _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: 'Encounter?reason-code=x' }] } }) as Subscription, 'Subscription.criteria.extension[0]'],
    ['filter about another type', (x) => ({ ...x, _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: 'Observation?status=final' }] } }) as Subscription, 'Subscription.criteria.extension[0]'],
    ['unsupported channel', (x) => ({ ...x, channel: { ...x.channel, type: 'email' } }), 'Subscription.channel.type'],
    ['unsupported payload content', (x) => ({ ...x, channel: { ...x.channel, _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'everything' }] } } }) as Subscription, 'Subscription.channel.payload.extension'],
    ['unsupported payload type', (x) => ({ ...x, channel: { ...x.channel, payload: 'application/fhir+xml' } }), 'Subscription.channel.payload'],
    ['http endpoint on a host not allowed', (x) => ({ ...x, channel: { ...x.channel, endpoint: 'http://example.org/hook' } }), 'Subscription.channel.endpoint'],
    ['metadata address', (x) => ({ ...x, channel: { ...x.channel, endpoint: 'https://169.254.169.254/latest/meta-data' } }), 'Subscription.channel.endpoint'],
    ['private address', (x) => ({ ...x, channel: { ...x.channel, endpoint: 'https://10.1.2.3/hook' } }), 'Subscription.channel.endpoint'],
    ['header the server sets', (x) => ({ ...x, channel: { ...x.channel, header: ['Host: evil'] } }), 'Subscription.channel.header[0]'],
  ];
  for (const [name, change, expression] of cases) {
    test(name, async () => {
      const res = await s.fhir('Subscription', { method: 'POST', json: change(topicSubscription(`${TOPIC}/encounter`, 'https://receiver.example.org/hook', 'id-only')) });
      expect(res.status).toBe(400);
      const o = await res.json();
      expect(o.resourceType).toBe('OperationOutcome');
      expect(o.issue[0].expression).toEqual([expression]);
    });
  }
});
