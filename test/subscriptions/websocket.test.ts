import type { Observation, OperationOutcome, Parameters, Patient, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type WsClient, connect, isNotification, parseNotification } from './websocket-client.ts';

// The websocket channel of the Subscriptions R5 Backport IG 1.1
// (http://hl7.org/fhir/uv/subscriptions-backport/channels.html#websockets): $get-ws-binding-token
// (OperationDefinition backport-subscription-get-ws-binding-token), `bind-with-token`, a handshake
// per bound subscription, then event notifications and heartbeats, each a notification Bundle
// (StructureDefinition backport-subscription-notification-r4).

const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic/resource/Observation';
let s: TestServer;
let patient: string;
const sockets: WsClient[] = [];

function wsSubscription(payload: 'empty' | 'id-only' | 'full-resource', extra: { heartbeat?: number; patientId?: string } = {}): Subscription {
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BP}/backport-subscription`] },
    status: 'requested',
    reason: 'websocket test',
    criteria: TOPIC,
    _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: `Observation?patient=Patient/${extra.patientId ?? patient}` }] },
    channel: {
      type: 'websocket',
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: payload }] },
      ...(extra.heartbeat ? { extension: [{ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: extra.heartbeat }] } : {}),
    },
  } as Subscription;
}

async function create<T extends { resourceType: string; id?: string }>(resource: T, token?: string): Promise<T & { id: string }> {
  const res = await s.fhir(resource.resourceType, { method: 'POST', json: resource, token });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as T & { id: string };
}

type TokenAnswer = Parameters & Pick<OperationOutcome, 'issue'>;

async function bindingToken(ids: string[], token?: string): Promise<{ status: number; body: TokenAnswer }> {
  const res = await s.fhir('Subscription/$get-ws-binding-token', {
    method: 'POST',
    token,
    json: { resourceType: 'Parameters', parameter: ids.map((id) => ({ name: 'id', valueId: id })) },
  });
  return { status: res.status, body: (await res.json()) as TokenAnswer };
}

const param = (p: Parameters, name: string) => p.parameter?.filter((x) => x.name === name) ?? [];

async function bound(ids: string[]): Promise<WsClient> {
  const { body } = await bindingToken(ids);
  const c = await connect(param(body, 'websocket-url')[0].valueUrl as string);
  sockets.push(c);
  c.bind(param(body, 'token')[0].valueString as string);
  return c;
}

function observation(patientId = patient): Observation {
  return { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${patientId}` }, valueQuantity: { value: 72, unit: '/min' } };
}

beforeAll(async () => {
  s = await startTestServer();
  patient = (await create<Patient>({ resourceType: 'Patient', name: [{ family: 'Socket' }] })).id;
});
afterAll(async () => {
  for (const c of sockets) c.close();
  await s?.close();
});

describe('$get-ws-binding-token', () => {
  test('answers token, expiration, the subscriptions and the websocket-url (IG OperationDefinition outputs)', async () => {
    const sub = await create(wsSubscription('id-only'));
    const before = s.clock.now().getTime();
    const { status, body } = await bindingToken([sub.id]);
    expect(status).toBe(200);
    expect(body.resourceType).toBe('Parameters');
    const token = param(body, 'token')[0].valueString as string;
    expect(token.length).toBeGreaterThan(40);
    const expiration = new Date(param(body, 'expiration')[0].valueDateTime as string).getTime();
    // Short-lived: ten minutes from issue.
    expect(expiration - before).toBeGreaterThanOrEqual(599_000);
    expect(expiration - before).toBeLessThanOrEqual(601_000 + 5_000);
    expect(param(body, 'subscription').map((p) => p.valueString)).toEqual([`${s.fhirBase}/Subscription/${sub.id}`]);
    expect(param(body, 'websocket-url')[0].valueUrl).toBe(`${s.baseUrl.replace('http://', 'ws://')}/ws/subscriptions`);
    // Stored hashed: the database never holds the token itself.
    const { rows } = await s.db.query<{ token_hash: string }>('SELECT token_hash FROM subscription_ws_token');
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(token).not.toContain(r.token_hash);
    const secret = token.slice(token.lastIndexOf('.') + 1);
    const dump = await s.db.query<{ t: string }>('SELECT string_agg(t::text, \',\') AS t FROM subscription_ws_token t');
    expect(dump.rows[0].t).not.toContain(secret);
  });

  test('instance level: Subscription/[id]/$get-ws-binding-token names that subscription', async () => {
    const sub = await create(wsSubscription('empty'));
    const res = await s.fhir(`Subscription/${sub.id}/$get-ws-binding-token`, { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Parameters;
    expect(param(body, 'subscription').map((p) => p.valueString)).toEqual([`${s.fhirBase}/Subscription/${sub.id}`]);
  });

  test('a rest-hook subscription cannot be bound: 400 naming channel.type', async () => {
    const hook = await create({
      ...wsSubscription('id-only'),
      channel: { ...wsSubscription('id-only').channel, type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook' },
    } as Subscription);
    const { status, body } = await bindingToken([hook.id]);
    expect(status).toBe(400);
    expect(body.issue[0].expression).toEqual(['Subscription.channel.type']);
    expect(body.issue[0].diagnostics).toContain('websocket');
  });

  test("another tenant's subscription answers exactly like a missing one (404)", async () => {
    const sub = await create(wsSubscription('id-only'));
    const other = await s.token('system/*.cruds', 'ws-other');
    const hidden = await bindingToken([sub.id], other);
    const missing = await bindingToken(['no-such-subscription'], other);
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(hidden.body.issue[0].code).toBe(missing.body.issue[0].code);
    expect(hidden.body.issue[0].diagnostics?.replace(sub.id, 'X')).toBe(missing.body.issue[0].diagnostics?.replace('no-such-subscription', 'X'));
  });

  test("a person binds their own Subscriptions only: another user of the clinic gets 404 for it, and 'all mine' leaves it out", async () => {
    const person = (user: string) => s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${user}`, roles: ['supervisor'], userId: user });
    const ana = await person('ana');
    const ben = await person('ben');
    const anas = await create(wsSubscription('id-only'), ana);
    const bens = await create(wsSubscription('id-only'), ben);
    expect((await bindingToken([anas.id], ana)).status).toBe(200);
    const other = await bindingToken([anas.id], ben);
    expect(other.status).toBe(404);
    expect(other.body.issue[0].code).toBe('not-found');
    // Without ids: every websocket Subscription the caller may read, i.e. Ben's own.
    const all = await bindingToken([], ben);
    expect(all.status).toBe(200);
    expect(param(all.body, 'subscription').map((p) => p.valueString)).toEqual([`${s.fhirBase}/Subscription/${bens.id}`]);
  });

  test('a token that may not read Subscriptions gets none (403), and a malformed id is a 400 naming the parameter', async () => {
    const sub = await create(wsSubscription('id-only'));
    const readObs = await s.token('system/Observation.rs');
    expect((await bindingToken([sub.id], readObs)).status).toBe(403);
    const bad = await bindingToken(['not an id!']);
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression?.[0]).toMatch(/^Parameters\.parameter\[0\]/);
  });
});

describe('bind-with-token and notifications', () => {
  test('bind: a handshake per subscription, then each event with its number and the payload level asked for', async () => {
    const empty = await create(wsSubscription('empty'));
    const idOnly = await create(wsSubscription('id-only'));
    const full = await create(wsSubscription('full-resource'));
    const c = await bound([empty.id, idOnly.id, full.id]);
    for (const sub of [empty, idOnly, full]) await c.until(isNotification('handshake', sub.id));
    for (const h of c.notifications().filter((n) => n.type === 'handshake')) {
      expect(h.bundle.type).toBe('history');
      expect(h.status.meta?.profile).toContain(`${BP}/backport-subscription-status-r4`);
      expect(h.eventsSinceStart).toBe('0');
      expect(h.events).toEqual([]);
    }
    // A websocket Subscription is active from the start (its endpoint is verified by binding).
    const read = (await (await s.fhir(`Subscription/${full.id}`)).json()) as Subscription;
    expect(read.status).toBe('active');

    const obs = await create(observation());
    for (const sub of [empty, idOnly, full]) await c.until(isNotification('event-notification', sub.id));
    const byId = (id: string) => c.notifications().find((n) => n.type === 'event-notification' && n.subscription.endsWith(`/Subscription/${id}`));
    const e = byId(empty.id);
    const i = byId(idOnly.id);
    const f = byId(full.id);
    // Event number 1 of each subscription; events-since-subscription-start 1.
    for (const n of [e, i, f]) {
      expect(n?.eventsSinceStart).toBe('1');
      expect(n?.events.map((x) => x.number)).toEqual(['1']);
    }
    // empty: no focus, no topic, no resource entries (IG payloads.html#empty).
    expect(e?.events[0].focus).toBeUndefined();
    expect(e?.status.parameter?.some((p) => p.name === 'topic')).toBe(false);
    expect(e?.bundle.entry).toHaveLength(1);
    // id-only: the focus reference and an entry with fullUrl and request, no resource.
    expect(i?.events[0].focus).toBe(`${s.fhirBase}/Observation/${obs.id}`);
    expect(i?.bundle.entry?.[1]).toMatchObject({ fullUrl: `${s.fhirBase}/Observation/${obs.id}`, request: { method: 'POST', url: 'Observation' } });
    expect(i?.bundle.entry?.[1].resource).toBeUndefined();
    // full-resource: the resource as stored.
    expect(f?.events[0].focus).toBe(`${s.fhirBase}/Observation/${obs.id}`);
    expect(f?.bundle.entry?.[1].resource).toMatchObject({ resourceType: 'Observation', id: obs.id, meta: { versionId: '1' } });
  });

  test('event numbers keep counting without gaps or repeats; a re-bound socket gets a handshake with the count so far', async () => {
    const sub = await create(wsSubscription('id-only'));
    const c = await bound([sub.id]);
    await c.until(isNotification('handshake', sub.id));
    for (let k = 0; k < 5; k++) await create(observation());
    const numbers = async () => c.notifications().filter((n) => n.type === 'event-notification').flatMap((n) => n.events.map((x) => Number(x.number)));
    const deadline = Date.now() + 10_000;
    while ((await numbers()).length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await numbers()).toEqual([1, 2, 3, 4, 5]);
    c.close();

    // A new socket, an active subscription: the handshake says 5 events so far.
    const again = await bound([sub.id]);
    const [h] = await again.until(isNotification('handshake', sub.id));
    expect(parseNotification(h)?.eventsSinceStart).toBe('5');
    await create(observation());
    const [n] = await again.until(isNotification('event-notification', sub.id));
    expect(parseNotification(n)?.events.map((x) => x.number)).toEqual(['6']);
  });

  test("only the token's own subscriptions reach the socket", async () => {
    const mine = await create(wsSubscription('id-only'));
    const notMine = await create(wsSubscription('id-only'));
    const c = await bound([mine.id]);
    await c.until(isNotification('handshake', mine.id));
    await create(observation());
    await c.until(isNotification('event-notification', mine.id));
    await s.server.loops.subscriptions.runOnce();
    expect(c.notifications().every((n) => n.subscription.endsWith(`/Subscription/${mine.id}`))).toBe(true);
    // The other subscription's event is kept for when a socket binds it.
    const status = (await (await s.fhir(`Subscription/${notMine.id}/$status`)).json()) as { entry: { resource: Parameters }[] };
    expect(param(status.entry[0].resource, 'events-since-subscription-start')[0].valueString).toBe('1');
    const later = await bound([notMine.id]);
    const [n] = await later.until(isNotification('event-notification', notMine.id));
    expect(parseNotification(n)?.events.map((x) => x.number)).toEqual(['1']);
  });

  test('many unbound websocket subscriptions with a backlog (apps closed) do not hold up a bound one', async () => {
    const other = await create<Patient>({ resourceType: 'Patient', name: [{ family: 'Crowd' }] });
    // 80 subscriptions whose apps are gone, each with an event waiting: more than one delivery round claims.
    const idle: Subscription[] = [];
    for (let i = 0; i < 80; i++) idle.push({ ...wsSubscription('empty', { patientId: other.id }), reason: `closed app ${i}` });
    const res = await s.fhir('', {
      method: 'POST',
      json: { resourceType: 'Bundle', type: 'transaction', entry: idle.map((resource) => ({ resource, request: { method: 'POST', url: 'Subscription' } })) },
    });
    expect(res.status).toBe(200);
    const sub = await create(wsSubscription('id-only', { patientId: other.id }));
    await create(observation(other.id));
    const c = await bound([sub.id]);
    await c.until(isNotification('event-notification', sub.id));
    // And the next events too, each as it comes, while the 80 backlogs stay.
    for (let k = 2; k <= 4; k++) {
      await create(observation(other.id));
      await c.until(isNotification('event-notification', sub.id), k);
    }
    const numbers = c.notifications().filter((n) => n.type === 'event-notification').flatMap((n) => n.events.map((x) => x.number));
    expect(numbers).toEqual(['1', '2', '3', '4']);
  });

  test('an unknown message gets an OperationOutcome, and an unbound socket is closed (1008)', async () => {
    const c = await connect(`${s.baseUrl.replace('http://', 'ws://')}/ws/subscriptions`);
    sockets.push(c);
    c.ws.send('subscribe please');
    const [oo] = (await c.until((m) => (m as OperationOutcome).resourceType === 'OperationOutcome')) as OperationOutcome[];
    expect(oo.issue[0].code).toBe('not-supported');
    expect(oo.issue[0].diagnostics).toContain('bind-with-token');
    expect(await c.closed).toBe(1008);
  });
});

// These move the server's clock forward, so they run last.
describe('time', () => {
  test('a heartbeat goes out when heartbeatPeriod passes without a notification', async () => {
    const sub = await create(wsSubscription('id-only', { heartbeat: 30 }));
    const c = await bound([sub.id]);
    await c.until(isNotification('handshake', sub.id));
    await create(observation());
    await c.until(isNotification('event-notification', sub.id));
    s.clock.advance(31_000);
    await s.server.loops.subscriptions.runOnce();
    // (The IG lets a server send a heartbeat at any time, so one may also follow the bind.)
    const [hb] = await c.until((m) => isNotification('heartbeat', sub.id)(m) && parseNotification(m)?.eventsSinceStart === '1');
    const n = parseNotification(hb);
    expect(n?.bundle.type).toBe('history');
    expect(n?.eventsSinceStart).toBe('1');
    expect(n?.events).toEqual([]);
  });

  test('an expired binding token is refused; a bound socket is closed when its token expires', async () => {
    const sub = await create(wsSubscription('id-only'));
    const { body } = await bindingToken([sub.id]);
    const url = param(body, 'websocket-url')[0].valueUrl as string;
    const token = param(body, 'token')[0].valueString as string;
    const c = await connect(url);
    sockets.push(c);
    c.bind(token);
    await c.until(isNotification('handshake', sub.id));

    s.clock.advance(601_000);
    // The binding lapsed with its token: the server closes the socket rather than keep it silently.
    expect(await c.closed).toBe(1008);
    const late = await connect(url);
    sockets.push(late);
    late.bind(token);
    const [oo] = (await late.until((m) => (m as OperationOutcome).resourceType === 'OperationOutcome')) as OperationOutcome[];
    expect(oo.issue[0].code).toBe('security');
    expect(oo.issue[0].diagnostics).toContain('expired');
    expect(await late.closed).toBe(1008);
    expect(late.notifications()).toEqual([]);
  });
});
