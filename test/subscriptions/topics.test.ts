import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { clinic, clinician, patient, phq9, riskTasks, submit } from '../clinical/risk-support.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver, statusOf } from './receiver.ts';
import { topicSubscription } from './subscription-fixtures.ts';

/**
 * The clinical topics end to end: a positive PHQ-9 (item 9) submitted by an app is scored by the
 * server, which raises a risk Task; subscribers of risk-task, questionnaire-response-completed and
 * scored-observation each hear about their part, in the same commit as the screen.
 */
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

test('a positive screen notifies the risk-task, questionnaire-response-completed and scored-observation subscribers', async () => {
  const c = await clinic(s, 'topics');
  const p = await patient(s, c);
  const sys = await s.token('system/*.cruds', c.tenant);
  const subscribe = async (topic: string, token = sys, filters?: string[]) => {
    const res = await s.fhir('Subscription', { method: 'POST', token, json: topicSubscription(`${TOPIC}/${topic}`, rx.url, 'full-resource', { filters }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as Subscription).id as string;
  };
  // The on-call clinician follows risk Tasks of the patient (a person's own Subscription).
  const onCall = await subscribe('risk-task', await clinician(s, c, c.rivera), [`Task?patient=Patient/${p}`]);
  const completed = await subscribe('questionnaire-response-completed');
  const scored = await subscribe('scored-observation', sys, [`Observation?patient=Patient/${p}`]);
  await s.server.loops.subscriptions.runOnce(); // handshakes
  const before = rx.received.length;

  const responseId = await submit(s, c.tenant, phq9(p, 2));
  const [task] = await riskTasks(s, c.tenant, p);
  expect(task).toBeDefined();
  await s.server.loops.subscriptions.runOnce();
  await rx.waitFor(before + 3);
  const bySub = (id: string) =>
    rx.received
      .slice(before)
      .map((x) => x.json as Bundle)
      .find((b) => statusOf(b.entry?.[0]?.resource as Parameters).subscription?.endsWith(`/Subscription/${id}`)) as Bundle;

  const riskNote = bySub(onCall);
  expect(statusOf(riskNote.entry?.[0]?.resource as Parameters).topic).toBe(`${TOPIC}/risk-task`);
  expect(riskNote.entry?.[1]?.resource).toMatchObject({ resourceType: 'Task', id: task.id });

  const qrNote = bySub(completed);
  expect(qrNote.entry?.[1]?.resource).toMatchObject({ resourceType: 'QuestionnaireResponse', id: responseId, status: 'completed' });

  const scoreNote = bySub(scored);
  const scores = (scoreNote.entry ?? []).slice(1).map((e) => e.resource as { resourceType: string; derivedFrom?: { reference?: string }[] });
  expect(scores.length).toBeGreaterThan(0);
  for (const o of scores) {
    expect(o.resourceType).toBe('Observation');
    expect(o.derivedFrom?.map((d) => d.reference)).toContain(`QuestionnaireResponse/${responseId}`);
  }
});
