import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver, statusOf } from './receiver.ts';
import { topicSubscription } from './subscription-fixtures.ts';

/**
 * Delivery is woken by the commit, not by polling: with a poll interval of a minute, the
 * handshake and a notification still arrive at once. Also: the CapabilityStatement lists the topics.
 */
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic';

let s: TestServer;
let rx: Receiver;
beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '60000' });
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await s?.close();
});

test('a commit wakes delivery: handshake and event arrive without polling', async () => {
  const res = await s.fhir('Subscription', { method: 'POST', json: topicSubscription(`${TOPIC}/resource/Encounter`, rx.url, 'id-only') });
  const sub = (await res.json()) as Subscription;
  await rx.waitFor(1, 5000);
  expect(statusOf((rx.received[0].json as Bundle).entry?.[0]?.resource as Parameters).type).toBe('handshake');
  const started = Date.now();
  const enc = await s.fhir('Encounter', { method: 'POST', json: { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } } });
  expect(enc.status).toBe(201);
  await rx.waitFor(2, 5000);
  expect(rx.received[1].at - started).toBeLessThan(5000);
  const st = statusOf((rx.received[1].json as Bundle).entry?.[0]?.resource as Parameters);
  expect(st.subscription).toBe(`${s.fhirBase}/Subscription/${sub.id}`);
  expect(st.events.map((e) => e.number)).toEqual(['1']);
});

test('the CapabilityStatement lists the topics and the Subscription operations', async () => {
  const cs = await (await fetch(`${s.fhirBase}/metadata`)).json();
  const sub = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Subscription');
  const topics = sub.extension
    .filter((e: { url: string }) => e.url === 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical')
    .map((e: { valueCanonical: string }) => e.valueCanonical);
  for (const t of ['risk-task', 'questionnaire-response-completed', 'scored-observation', 'composition-signed', 'appointment', 'encounter', 'resource/Observation']) {
    expect(topics).toContain(`${TOPIC}/${t}`);
  }
  expect(sub.operation.map((o: { name: string }) => o.name)).toEqual(expect.arrayContaining(['status', 'events', 'get-ws-binding-token']));
  const ws = cs.rest[0].extension.find((e: { url: string }) => e.url === 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket');
  expect(ws.valueUri).toBe(`${s.baseUrl.replace(/^http/, 'ws')}/ws/subscriptions`);
});
