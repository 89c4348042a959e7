import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver, statusOf } from './receiver.ts';
import { topicSubscription } from './subscription-fixtures.ts';

/**
 * Delivery respects access: every notification is filtered by what the subscriber may see at
 * delivery time (access/policy.ts, the same decision point as search). Hidden events keep their
 * number but carry no focus and no resource, and nothing of them appears anywhere in the Bundle.
 */
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic';
const PART2 = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2' };
const PSYTHPN = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSYTHPN' };
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };

let s: TestServer;
let rx: Receiver;
let a: string;
let b: string;
let patientToken: string;

async function create<T>(type: string, body: object, token?: string): Promise<T> {
  const res = await s.fhir(type, { method: 'POST', json: body, token });
  expect(res.status).toBe(201);
  return (await res.json()) as T;
}

beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '0' });
  rx = await startReceiver();
  a = (await create<{ id: string }>('Patient', { resourceType: 'Patient', name: [{ family: 'Alpha' }] })).id;
  b = (await create<{ id: string }>('Patient', { resourceType: 'Patient', name: [{ family: 'Beta' }] })).id;
  patientToken = await s.personToken({ scope: 'patient/*.rs patient/Subscription.cruds', roles: ['patient'], fhirUser: `Patient/${a}`, patient: a, userId: 'user-alpha' });
});
afterAll(async () => {
  await rx?.close();
  await s?.close();
});

const obs = (patient: string, text: string, security?: object[]) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text },
  subject: { reference: `Patient/${patient}` },
  ...(security ? { meta: { security } } : {}),
});

describe('a patient/ subscriber', () => {
  let sub: Subscription;

  test('may create a Subscription within its scopes; it is theirs alone', async () => {
    sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/resource/Observation`, rx.url, 'full-resource'), patientToken);
    expect(sub.status).toBe('requested');
    expect((await s.fhir(`Subscription/${sub.id}`, { token: patientToken })).status).toBe(200);
    const otherPatient = await s.personToken({ scope: 'patient/*.rs patient/Subscription.cruds', roles: ['patient'], fhirUser: `Patient/${b}`, patient: b, userId: 'user-beta' });
    expect((await s.fhir(`Subscription/${sub.id}`, { token: otherPatient })).status).toBe(404);
    const theirs = (await (await s.fhir('Subscription', { token: otherPatient })).json()) as Bundle;
    expect(theirs.entry ?? []).toHaveLength(0);
    // A subscription about a type the token cannot read is refused up front.
    const res = await s.fhir('Subscription', { method: 'POST', json: topicSubscription(`${TOPIC}/resource/Practitioner`, rx.url, 'id-only'), token: await s.personToken({ scope: 'patient/Observation.rs patient/Subscription.cruds', roles: ['patient'], fhirUser: `Patient/${a}`, patient: a, userId: 'user-alpha' }) });
    expect(res.status).toBe(403);
    expect((await res.json()).issue[0].expression).toEqual(['Subscription.criteria']);
    await s.server.loops.subscriptions.runOnce(); // handshake
    expect(((await (await s.fhir(`Subscription/${sub.id}`, { token: patientToken })).json()) as Subscription).status).toBe('active');
  });

  test("hears only about its own patient's unlabelled records; hidden events are numbered but empty", async () => {
    const visible = await create<{ id: string }>('Observation', obs(a, 'mood check'));
    const otherPatients = await create<{ id: string }>('Observation', obs(b, 'beta secret finding'));
    const part2 = await create<{ id: string }>('Observation', obs(a, 'substance use treatment', [PART2]));
    const restricted = await create<{ id: string }>('Observation', obs(a, 'restricted detail', [RESTRICTED]));
    const psychotherapy = await create<{ id: string }>('Observation', obs(a, 'session process note', [PSYTHPN]));
    const before = rx.received.length;
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const got = rx.received.slice(before).filter((x) => statusOf((x.json as Bundle).entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${sub.id}`));
    expect(got).toHaveLength(1);
    const bundle = got[0].json as Bundle;
    const st = statusOf(bundle.entry?.[0]?.resource as Parameters);
    expect(st.eventsSinceStart).toBe('5');
    expect(st.events.map((e) => [e.number, e.focus])).toEqual([
      ['1', `${s.fhirBase}/Observation/${visible.id}`],
      ['2', undefined],
      ['3', undefined],
      ['4', undefined],
      ['5', undefined],
    ]);
    expect(bundle.entry).toHaveLength(2);
    expect(bundle.entry?.[1]?.resource).toMatchObject({ resourceType: 'Observation', id: visible.id });
    // Nothing of a hidden record anywhere: not its id, not its patient, not its content or labels.
    for (const hidden of [otherPatients.id, part2.id, restricted.id, psychotherapy.id, b, 'beta secret', 'substance use', 'restricted detail', 'session process', '42CFRPart2', 'PSYTHPN']) {
      expect(got[0].body).not.toContain(hidden);
    }

    // $events answers the same way for the subscriber.
    const ev = (await (await s.fhir(`Subscription/${sub.id}/$events`, { token: patientToken })).json()) as Bundle;
    expect(statusOf(ev.entry?.[0]?.resource as Parameters).events.map((e) => e.focus !== undefined)).toEqual([true, false, false, false, false]);
    const evText = JSON.stringify(ev);
    for (const hidden of [otherPatients.id, part2.id, restricted.id, b]) expect(evText).not.toContain(hidden);
  });
});

describe('a clinician subscriber', () => {
  test('hears about the patients they treat, and stops hearing when the care relationship ends', async () => {
    const pract = await create<{ id: string }>('Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Carer' }] });
    const team = await create<{ id: string; resourceType: string }>('CareTeam', {
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: `Patient/${a}` },
      participant: [{ member: { reference: `Practitioner/${pract.id}` } }],
    });
    const clinician = await s.personToken({ scope: 'user/*.rs user/Subscription.cruds', roles: ['clinician'], fhirUser: `Practitioner/${pract.id}`, userId: 'user-carer' });
    const sub = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/encounter`, rx.url, 'id-only'), clinician);
    await s.server.loops.subscriptions.runOnce(); // handshake
    const enc = (patient: string) => create<{ id: string }>('Encounter', { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' }, subject: { reference: `Patient/${patient}` } });
    const treated = await enc(a);
    const notTreated = await enc(b);
    const before = rx.received.length;
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 1);
    const mine = () => rx.received.slice(before).filter((x) => statusOf((x.json as Bundle).entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${sub.id}`));
    expect(statusOf((mine()[0].json as Bundle).entry?.[0]?.resource as Parameters).events.map((e) => e.focus)).toEqual([`${s.fhirBase}/Encounter/${treated.id}`, undefined]);
    expect(mine()[0].body).not.toContain(notTreated.id);

    // The care team ends: after the policy's few seconds of cache, A's encounters are hidden too.
    const ended = await s.fhir(`CareTeam/${team.id}`, { method: 'PUT', json: { ...team, status: 'inactive' } });
    expect(ended.status).toBe(200);
    s.clock.advance(6_000); // past the subscriber policy's cache life (events.ts POLICY_TTL_MS)
    const later = await enc(a);
    const n = rx.received.length;
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(n + 1);
    const last = rx.received.slice(n).find((x) => statusOf((x.json as Bundle).entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${sub.id}`));
    expect(statusOf((last?.json as Bundle).entry?.[0]?.resource as Parameters).events.map((e) => [e.number, e.focus])).toEqual([['3', undefined]]);
    expect(last?.body).not.toContain(later.id);
  });
});

describe('a system subscriber', () => {
  test('sees labelled records only through a scope naming their type', async () => {
    const broad = await s.token('system/*.rs system/Subscription.cruds');
    const named = await s.token('system/Observation.rs system/Subscription.cruds');
    const subBroad = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/scored-observation`, rx.url, 'full-resource'), broad);
    const subNamed = await create<Subscription>('Subscription', topicSubscription(`${TOPIC}/scored-observation`, rx.url, 'full-resource'), named);
    await s.server.loops.subscriptions.runOnce(); // handshakes
    const qr = await create<{ id: string }>('QuestionnaireResponse', { resourceType: 'QuestionnaireResponse', status: 'in-progress', subject: { reference: `Patient/${a}` } });
    const scored = (security?: object[]) => ({
      ...obs(a, 'PHQ-9 total'),
      derivedFrom: [{ reference: `QuestionnaireResponse/${qr.id}` }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
      ...(security ? { meta: { security } } : {}),
    });
    const plain = await create<{ id: string }>('Observation', scored());
    const labelled = await create<{ id: string }>('Observation', scored([PART2]));
    await create('Observation', obs(a, 'not a score')); // not an event of this topic
    const before = rx.received.length;
    await s.server.loops.subscriptions.runOnce();
    await rx.waitFor(before + 2);
    const bundles = rx.received.slice(before).map((x) => x.json as Bundle);
    const of = (id: string) => bundles.find((x) => statusOf(x.entry?.[0]?.resource as Parameters).subscription?.endsWith(`/${id}`)) as Bundle;
    const focus = (x: Bundle) => statusOf(x.entry?.[0]?.resource as Parameters).events.map((e) => e.focus);
    expect(focus(of(subBroad.id as string))).toEqual([`${s.fhirBase}/Observation/${plain.id}`, undefined]);
    expect(JSON.stringify(of(subBroad.id as string))).not.toContain(labelled.id);
    expect(focus(of(subNamed.id as string))).toEqual([`${s.fhirBase}/Observation/${plain.id}`, `${s.fhirBase}/Observation/${labelled.id}`]);
  });
});
