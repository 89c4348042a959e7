import type { AuditEvent, Bundle, Consent, Parameters, Resource, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver } from '../subscriptions/receiver.ts';
import { topicSubscription } from '../subscriptions/subscription-fixtures.ts';
import { type WsClient, connect, isNotification } from '../subscriptions/websocket-client.ts';
import { PAYER, PART2, R, TENANT, backendClients, consentFor, create, resourcesIn } from './fixture.ts';

/**
 * Issue 13 item 5 on the notification path: a subscription notification delivered to a recipient
 * outside the treating clinic (a backend client registered with --organization, token from
 * /auth/token) is a disclosure, recorded once the endpoint took it (2xx) and listed by
 * Patient/[id]/$disclosures for the patient and for a privacy officer: the delivered resources,
 * the organization, the client, the purpose, the Subscription. An internal subscriber's
 * notifications are not disclosures; a delivery the endpoint refused disclosed nothing, and a
 * retried notification is recorded once, when it got through.
 */
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic/resource/Observation';
const SUBTYPE = 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype';

let s: TestServer;
let rx: Receiver;
let admin: string;
let payerClient: string;
let payer: string;
let patientA: string;
let patientB: string;
const subs = { full: '', idOnly: '', internal: '' };
const obs = { plain: '', part2: '', b: '', retried: '' };

beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '0' });
  rx = await startReceiver();
  await s.ensureTenant(TENANT);
  admin = await s.token('system/*.cruds', TENANT);
  await create(s, admin, { resourceType: 'Organization', id: 'payer', name: 'Payer' });
  patientA = (await create(s, admin, { resourceType: 'Patient', name: [{ family: 'Accounted' }] })).id;
  patientB = (await create(s, admin, { resourceType: 'Patient', name: [{ family: 'Bystander' }] })).id;
  await create(s, admin, consentFor(patientA, { labels: [PART2, R] }) as Consent);
  const { register, token } = await backendClients(s);
  payerClient = await register('--organization', PAYER, '--purposes', 'HPAYMT');
  payer = await token(payerClient, 'system/*.rs system/Subscription.cruds purpose/HPAYMT');
  const internal = await s.token('system/*.rs system/Subscription.cruds', TENANT);
  subs.full = (await create(s, payer, topicSubscription(TOPIC, `${rx.url}/full`, 'full-resource') as Subscription)).id;
  subs.idOnly = (await create(s, payer, topicSubscription(TOPIC, `${rx.url}/id-only`, 'id-only') as Subscription)).id;
  subs.internal = (await create(s, internal, topicSubscription(TOPIC, `${rx.url}/internal`, 'full-resource') as Subscription)).id;
  await s.server.loops.subscriptions.runOnce();
  await rx.waitFor(3); // the handshakes

  const observation = async (patient: string, text: string, extra: object = {}) =>
    (await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient}` }, effectiveDateTime: '2024-05-01', code: { text }, ...extra } as Resource)).id;
  obs.plain = await observation(patientA, 'plain');
  obs.part2 = await observation(patientA, 'part2', { meta: { security: [PART2, R] } });
  obs.b = await observation(patientB, 'bystander');
  await deliverAll();
  expect(rx.received.length).toBe(6);
}, 120_000);

let socket: WsClient | undefined;

afterAll(async () => {
  socket?.close();
  await rx?.close();
  await s?.close();
});

async function deliverAll(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await s.server.loops.subscriptions.runOnce();
    const { rows } = await s.db.query<{ pending: string }>('SELECT count(*)::text AS pending FROM subscription WHERE tenant = $1 AND delivered_through < events_since_start', [TENANT]);
    if (rows[0].pending === '0') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const patientToken = (p: string) => s.personToken({ tenant: TENANT, scope: 'patient/*.rs', fhirUser: `Patient/${p}`, roles: ['patient'], patient: p });
const officerToken = () => s.personToken({ tenant: TENANT, scope: 'user/Patient.rs user/AuditEvent.rs', fhirUser: 'Practitioner/privacy-officer', roles: ['privacy-officer'] });

/** The audit trail is written in batches (~100 ms): the patient's accounting once it holds `n` disclosures. */
async function listed(patient: string, token: string, n: number): Promise<AuditEvent[]> {
  for (let i = 0; ; i++) {
    const res = await s.fhir(`Patient/${patient}/$disclosures?_count=100`, { token });
    expect(res.status).toBe(200);
    const events = (((await res.json()) as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
    if (events.length >= n || i > 40) return events;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const subscriptionOf = (e: AuditEvent) => e.entity?.find((x) => x.role?.code === '23')?.what?.reference;
const disclosed = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '4').map((x) => x.what?.reference).sort();

describe('subscription notifications in the accounting of disclosures', () => {
  test('the receiver got the full-resource notification, the Part 2 record included', () => {
    const got = rx.received.filter((r) => r.path.endsWith('/full')).flatMap((r) => resourcesIn(r.json)).map((r) => `${r.resourceType}/${r.id}`);
    expect(got).toEqual(expect.arrayContaining([`Observation/${obs.plain}`, `Observation/${obs.part2}`, `Observation/${obs.b}`]));
  });

  test("the patient's $disclosures lists each delivered notification to the payer, with resources, organization, client, purpose and Subscription", async () => {
    const events = await listed(patientA, await patientToken(patientA), 2);
    expect(events.map(subscriptionOf).sort()).toEqual([`Subscription/${subs.full}`, `Subscription/${subs.idOnly}`].sort());
    for (const e of events) {
      expect(e.subtype).toEqual(expect.arrayContaining([expect.objectContaining({ system: SUBTYPE, code: 'disclosure' }), expect.objectContaining({ system: SUBTYPE, code: 'subscription-notification' })]));
      expect(e.type).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106' });
      expect(e.outcome).toBe('0');
      expect(e.purposeOfEvent?.[0]?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' });
      expect(e.agent?.find((a) => a.who?.reference === PAYER)?.type?.coding?.[0]?.code).toBe('IRCP');
      expect(e.agent?.some((a) => a.who?.identifier?.value === payerClient)).toBe(true);
      // Patient B's observation went out in the same notifications: never in A's accounting.
      expect(disclosed(e)).toEqual([`Observation/${obs.part2}/_history/1`, `Observation/${obs.plain}/_history/1`].sort());
      expect(e.entity?.some((x) => x.what?.reference === `Patient/${patientA}` && x.role?.code === '1')).toBe(true);
      expect(JSON.stringify(e)).not.toContain(patientB);
    }
    const idOnly = events.find((e) => subscriptionOf(e) === `Subscription/${subs.idOnly}`) as AuditEvent;
    expect(idOnly.entity?.filter((x) => x.role?.code === '4').every((x) => x.description === 'sent as id only')).toBe(true);
  });

  test("a privacy officer sees the same; B's accounting holds B's record only; the internal subscriber's deliveries are not disclosures", async () => {
    const officer = await officerToken();
    const forA = await listed(patientA, officer, 2);
    expect(forA.map((e) => e.id).sort()).toEqual((await listed(patientA, await patientToken(patientA), 2)).map((e) => e.id).sort());
    const forB = await listed(patientB, officer, 2);
    expect(forB).toHaveLength(2);
    for (const e of forB) expect(disclosed(e)).toEqual([`Observation/${obs.b}/_history/1`]);
    const all = await s.fhir(`AuditEvent?subtype=${SUBTYPE}|subscription-notification&_count=100`, { token: admin });
    const recorded = (((await all.json()) as Bundle<AuditEvent>).entry ?? []).map((x) => subscriptionOf(x.resource as AuditEvent));
    expect(recorded.sort()).toEqual([`Subscription/${subs.full}`, `Subscription/${subs.idOnly}`].sort());
  });

  test('a notification the endpoint refused disclosed nothing; retried and taken, it is recorded once', async () => {
    const before = (await listed(patientA, await officerToken(), 2)).length;
    rx.status = 500;
    const sent = rx.received.length;
    obs.retried = (await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patientA}` }, code: { text: 'retried' } } as Resource)).id;
    await s.server.loops.subscriptions.runOnce();
    expect(rx.received.length).toBe(sent + 3); // each subscription tried, each refused
    await new Promise((r) => setTimeout(r, 500)); // past the audit trail's flush
    expect(await listed(patientA, await officerToken(), 0)).toHaveLength(before);
    rx.status = 200;
    s.clock.advance(2_000); // past the first retry's backoff
    await deliverAll();
    expect(rx.received.length).toBe(sent + 6);
    const after = await listed(patientA, await officerToken(), before + 2);
    expect(after).toHaveLength(before + 2);
    const retried = after.filter((e) => disclosed(e).includes(`Observation/${obs.retried}/_history/1`));
    expect(retried.map(subscriptionOf).sort()).toEqual([`Subscription/${subs.full}`, `Subscription/${subs.idOnly}`].sort());
  });

  test("$events asked by the payer is a disclosure too: id-only names the records whose ids it sent", async () => {
    const officer = await officerToken();
    const before = (await listed(patientA, officer, 0)).length;
    for (const content of ['id-only', 'full-resource']) {
      const res = await s.fhir(`Subscription/${subs.idOnly}/$events?eventsSinceNumber=1&eventsUntilNumber=3&content=${content}`, { token: payer });
      expect(res.status).toBe(200);
      const entries = ((await res.json()) as Bundle).entry ?? [];
      expect(entries.slice(1).map((e) => e.fullUrl?.split('/').slice(-2).join('/')).sort()).toEqual([`Observation/${obs.plain}`, `Observation/${obs.part2}`, `Observation/${obs.b}`].sort());
      expect(entries.slice(1).every((e) => (content === 'id-only') === (e.resource === undefined))).toBe(true);
    }
    const events = (await listed(patientA, officer, before + 2)).slice(0, 2);
    expect(events).toHaveLength(2);
    for (const e of events) {
      expect(e.subtype?.map((c) => c.code)).toEqual(['operation', 'disclosure']);
      expect(e.agent?.find((a) => a.who?.reference === PAYER)?.type?.coding?.[0]?.code).toBe('IRCP');
      expect(disclosed(e)).toEqual([`Observation/${obs.part2}/_history/1`, `Observation/${obs.plain}/_history/1`].sort());
    }
  });
});

describe('over a websocket', () => {
  test('a notification sent on the payer\'s bound socket is recorded once sent, with the websocket channel named', async () => {
    const ws = topicSubscription(TOPIC, 'https://unused.example.org', 'full-resource', { filters: [`Observation?patient=Patient/${patientB}`] });
    delete ws.channel.endpoint;
    ws.channel.type = 'websocket';
    const sub = await create(s, payer, ws);
    const res = await s.fhir(`Subscription/${sub.id}/$get-ws-binding-token`, { token: payer, method: 'POST' });
    expect(res.status).toBe(200);
    const binding = (await res.json()) as Parameters;
    const param = (name: string) => binding.parameter?.find((p) => p.name === name);
    socket = await connect(param('websocket-url')?.valueUrl as string);
    socket.bind(param('token')?.valueString as string);
    await socket.until(isNotification('handshake', sub.id));
    const officer = await officerToken();
    const before = (await listed(patientB, officer, 0)).length;
    const o = (await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patientB}` }, code: { text: 'socket' } } as Resource)).id;
    await deliverAll();
    await socket.until(isNotification('event-notification', sub.id));
    const events = await listed(patientB, officer, before + 3); // the two rest-hook subscriptions and the socket
    const mine = events.filter((e) => subscriptionOf(e) === `Subscription/${sub.id}`);
    expect(mine).toHaveLength(1);
    expect(disclosed(mine[0])).toEqual([`Observation/${o}/_history/1`]);
    expect(mine[0].entity?.find((x) => x.role?.code === '23')?.description).toBe('websocket notification, full-resource payload');
    expect(mine[0].agent?.find((a) => a.who?.reference === PAYER)?.type?.coding?.[0]?.code).toBe('IRCP');
  });
});
