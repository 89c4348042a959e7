import type { Bundle, Communication, PlanDefinition, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import {
  type Clinic,
  MIN,
  OUTCOME,
  asqAcute,
  clinic,
  clinician,
  create,
  crisisMessages,
  flags,
  patient,
  phq9,
  riskTasks,
  search,
  submit,
  timers,
} from './risk-support.ts';

/**
 * The crisis-risk workflow over real HTTP (issue 8 §1): a positive screen raises, in its own
 * transaction, a risk Task owned by the clinician on call, a safety Flag and the patient's
 * crisis resources; unacknowledged Tasks climb the ladder on the server's clock; only a
 * clinician closes one, with an outcome. The loop is driven by the test (RISK_POLL_MS=0).
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ RISK_POLL_MS: '0' });
}, 60_000);
afterAll(async () => {
  await s?.close();
});

describe('a positive PHQ-9', () => {
  let c: Clinic;
  let p: string;
  let response: string;
  let task: Task;
  beforeAll(async () => {
    c = await clinic(s, 'raise');
    p = await patient(s, c);
    response = await submit(s, c.tenant, phq9(p, 1));
    [task] = await riskTasks(s, c.tenant, p);
  });

  test('raises a risk Task owned by the clinician on call, with the triggering answer and a deadline', async () => {
    const started = s.clock.now().getTime();
    expect(task).toMatchObject({
      meta: { profile: ['http://bh-fhir.org/fhir/StructureDefinition/risk-task'] },
      status: 'requested',
      intent: 'order',
      priority: 'urgent',
      focus: { reference: `QuestionnaireResponse/${response}` },
      for: { reference: `Patient/${p}` },
      owner: { reference: `Practitioner/${c.rivera}` },
      instantiatesCanonical: 'http://bh-fhir.org/fhir/PlanDefinition/risk-rules|1.0.0',
    });
    expect(task.reasonCode?.coding?.map((x) => x.code)).toEqual(['phq9-item9']);
    const item9 = task.input?.find((i) => i.type.coding?.some((x) => x.code === '44260-8'));
    expect(item9?.valueCoding?.code).toBe('LA6569-3'); // "Several days", ordinal 1
    const deadline = new Date(task.restriction?.period?.end ?? '').getTime();
    expect(deadline - new Date(task.restriction?.period?.start ?? '').getTime()).toBe(60 * MIN);
    expect(Math.abs(deadline - (started + 60 * MIN))).toBeLessThan(MIN);
    expect(task.note?.some((n) => n.text.includes('Playbook for phq9-item9'))).toBe(true);
    expect(await timers(s, c.tenant)).toEqual([expect.objectContaining({ task_id: task.id, step: 0 })]);
  });

  test('a safety Flag on the patient and a crisis-resources Communication the patient app finds', async () => {
    const [flag, ...more] = await flags(s, c.tenant, p);
    expect(more).toHaveLength(0);
    expect(flag).toMatchObject({ status: 'active', category: [{ coding: [{ code: 'safety' }] }], subject: { reference: `Patient/${p}` } });
    const app = await s.personToken({ tenant: c.tenant, scope: 'patient/*.rs', fhirUser: `Patient/${p}`, userId: 'u-patient', roles: ['patient'], patient: p });
    const [message, ...others] = await crisisMessages(s, c.tenant, response, app);
    expect(others).toHaveLength(0);
    expect(message).toMatchObject({ status: 'completed', subject: { reference: `Patient/${p}` }, recipient: [{ reference: `Patient/${p}` }] });
    const text = message.payload?.[0]?.contentString ?? '';
    expect(text).toContain('call 988');
    expect(text).toContain('text 988');
    expect(text).toContain('https://988lifeline.org/chat');
    expect(text).toContain('911');
    const service = message.payload?.find((x) => x.contentReference)?.contentReference?.reference ?? '';
    expect((await s.fhir(service, { token: app })).status).toBe(200);
  });

  test('the on-call clinician, who does not treat the patient, reads the Task, the patient and the response at once', async () => {
    const token = await clinician(s, c, c.rivera);
    for (const path of [`Task/${task.id}`, `Patient/${p}`, `QuestionnaireResponse/${response}`]) {
      expect((await s.fhir(path, { token })).status, path).toBe(200);
    }
    const notice = await search<Communication>(s, c.tenant, `Communication?recipient=Practitioner/${c.rivera}`, token);
    expect(notice.map((m) => m.about?.[0]?.reference)).toEqual([`Task/${task.id}`]);
    // Dr. Shah has no part in it yet: the Task answers as missing.
    expect((await s.fhir(`Task/${task.id}`, { token: await clinician(s, c, c.shah) })).status).toBe(404);
  });

  test('a later positive screen joins the open Task: new input, priority raised, deadline nearer', async () => {
    const acute = await submit(s, c.tenant, asqAcute(p));
    const tasks = await riskTasks(s, c.tenant, p);
    expect(tasks).toHaveLength(1);
    const joined = tasks[0];
    expect(joined.id).toBe(task.id);
    expect(joined.priority).toBe('stat');
    expect(joined.input?.some((i) => i.valueReference?.reference === `QuestionnaireResponse/${acute}`)).toBe(true);
    expect(joined.reasonCode?.coding?.map((x) => x.code)).toEqual(['phq9-item9', 'asq-acute']);
    const window = new Date(joined.restriction?.period?.end ?? '').getTime() - new Date(joined.restriction?.period?.start ?? '').getTime();
    expect(window).toBe(15 * MIN);
    expect(await flags(s, c.tenant, p)).toHaveLength(1);
    expect(await crisisMessages(s, c.tenant, acute)).toHaveLength(1);
  });
});

test('the Task, Flag and Communication commit or roll back with the response (one transaction)', async () => {
  const c = await clinic(s, 'atomic');
  const p = await patient(s, c);
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { request: { method: 'POST', url: 'QuestionnaireResponse' }, resource: phq9(p, 3) },
      // Fails validation: the whole transaction, the risk workflow's writes included, rolls back.
      { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', subject: { reference: `Patient/${p}` } } as never },
    ],
  };
  const res = await s.fhir('', { method: 'POST', json: bundle, token: await s.token('system/*.cruds', c.tenant) });
  expect(res.status).toBe(400);
  expect(await search(s, c.tenant, `QuestionnaireResponse?subject=Patient/${p}`)).toHaveLength(0);
  expect(await riskTasks(s, c.tenant, p)).toHaveLength(0);
  expect(await flags(s, c.tenant, p)).toHaveLength(0);
  expect(await search(s, c.tenant, `Communication?subject=Patient/${p}`)).toHaveLength(0);
  expect(await timers(s, c.tenant)).toHaveLength(0);
  // The same response alone commits with all of them.
  const ok = await s.fhir('', { method: 'POST', json: { ...bundle, entry: bundle.entry?.slice(0, 1) }, token: await s.token('system/*.cruds', c.tenant) });
  expect(ok.status).toBe(200);
  expect(await riskTasks(s, c.tenant, p)).toHaveLength(1);
  expect(await flags(s, c.tenant, p)).toHaveLength(1);
  expect(await search(s, c.tenant, `Communication?subject=Patient/${p}`)).toHaveLength(1);
});

describe('only humans close', () => {
  let c: Clinic;
  let p: string;
  let task: Task;
  const outcome = { type: { coding: [{ system: OUTCOME, code: 'contact-made-safety-plan' }] }, valueString: 'Phoned the patient; safety plan completed together.' };
  beforeAll(async () => {
    c = await clinic(s, 'close');
    p = await patient(s, c);
    await submit(s, c.tenant, phq9(p, 1));
    [task] = await riskTasks(s, c.tenant, p);
  });
  const put = async (token: string, body: Task) => s.fhir(`Task/${task.id}`, { method: 'PUT', token, json: body });
  const issue = async (res: Response) => ((await res.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression?.[0];

  test('a system client, a patient or an app without Task write gets 403', async () => {
    const done = { ...task, status: 'completed' as const, statusReason: { text: 'Done' }, output: [outcome] };
    expect((await put(await s.token('system/*.cruds', c.tenant), done)).status).toBe(403);
    const patientApp = await s.personToken({ tenant: c.tenant, scope: 'patient/*.cruds', fhirUser: `Patient/${p}`, userId: 'u-p', roles: ['patient'], patient: p });
    expect((await put(patientApp, done)).status).toBe(403);
    const readOnly = await s.personToken({ tenant: c.tenant, scope: 'user/*.rs', fhirUser: `Practitioner/${c.rivera}`, userId: 'u-r', roles: ['clinician'] });
    expect((await put(readOnly, done)).status).toBe(403);
    // Nor can a system client silence it by acknowledging.
    expect((await put(await s.token('system/*.cruds', c.tenant), { ...task, status: 'accepted' })).status).toBe(403);
    expect(await timers(s, c.tenant)).toHaveLength(1);
  });

  test('a clinician closing without an outcome or a reason gets 400 naming the element', async () => {
    const token = await clinician(s, c, c.rivera);
    const noOutcome = await put(token, { ...task, status: 'completed', statusReason: { text: 'Done' } });
    expect(noOutcome.status).toBe(400);
    expect(await issue(noOutcome)).toBe('Task.output');
    const noReason = await put(token, { ...task, status: 'cancelled', output: [outcome] });
    expect(noReason.status).toBe(400);
    expect(await issue(noReason)).toBe('Task.statusReason');
    const unreached = await put(token, { ...task, status: 'completed', statusReason: { text: 'x' }, output: [{ type: { coding: [{ system: OUTCOME, code: 'unable-to-reach' }] }, valueString: ' ' }] });
    expect(unreached.status).toBe(400);
    const noDeadline = await put(token, { ...task, restriction: undefined });
    expect(noDeadline.status).toBe(400);
    expect(await issue(noDeadline)).toBe('Task.restriction.period.end');
  });

  test('an amended response that is no longer positive leaves the Task open', async () => {
    const response = task.focus?.reference ?? '';
    const token = await s.token('system/*.cruds', c.tenant);
    const stored = await (await s.fhir(response, { token })).json();
    const amended = { ...phq9(p, 0), id: stored.id, status: 'amended' };
    expect((await s.fhir(response, { method: 'PUT', token, json: amended })).status).toBe(200);
    const [still] = await riskTasks(s, c.tenant, p);
    expect(still.status).toBe('requested');
    expect(await timers(s, c.tenant)).toHaveLength(1);
  });

  test('the owner closes it with a reason and an outcome; it stays closed and stops escalating', async () => {
    const token = await clinician(s, c, c.rivera);
    const [current] = await riskTasks(s, c.tenant, p);
    const closed = await put(token, { ...current, status: 'completed', statusReason: { text: 'Risk assessed, safety plan in place' }, output: [outcome] });
    expect(closed.status, await closed.clone().text()).toBe(200);
    expect(await timers(s, c.tenant)).toHaveLength(0);
    const body = (await closed.json()) as Task;
    const reopened = await put(token, { ...body, status: 'requested' });
    expect(reopened.status).toBe(400);
    expect(await issue(reopened)).toBe('Task.status');
    expect((await s.fhir(`Task/${task.id}`, { method: 'DELETE', token: await s.token('system/*.cruds', c.tenant) })).status).toBe(405);
    // A new positive screen opens a new Task.
    await submit(s, c.tenant, phq9(p, 1));
    expect((await riskTasks(s, c.tenant, p)).map((t) => t.status).sort()).toEqual(['completed', 'requested']);
  });
});

describe('rules as data', () => {
  let c: Clinic;
  let admin: string;
  let rules: PlanDefinition;
  beforeAll(async () => {
    c = await clinic(s, 'rules');
    admin = await s.personToken({ tenant: c.tenant, scope: 'user/*.cruds', fhirUser: 'Practitioner/admin', userId: 'u-admin', roles: ['tenant-admin'] });
    rules = (await (await s.fhir('PlanDefinition/risk-rules', { token: admin })).json()) as PlanDefinition;
  });

  test('every tenant has the shipped rule set and crisis resources', async () => {
    expect(rules).toMatchObject({ url: 'http://bh-fhir.org/fhir/PlanDefinition/risk-rules', version: '1.0.0' });
    expect(rules.action?.map((a) => a.id)).toEqual(expect.arrayContaining(['phq9-item9', 'phqa-item9', 'asq-non-acute', 'asq-acute', 'phq9-severe']));
    const services = await search(s, c.tenant, 'HealthcareService?service-category=http://bh-fhir.org/fhir/CodeSystem/crisis-resource|crisis-line');
    expect(services.map((x) => x.id)).toEqual(['crisis-988']);
  });

  test('a broken rule is refused with 400 naming the action', async () => {
    const broken = async (i: number, patch: object, where: string) => {
      const action = rules.action?.map((a, j) => (j === i ? { ...a, ...patch } : a));
      const res = await s.fhir('PlanDefinition/risk-rules', { method: 'PUT', token: admin, json: { ...rules, action } });
      expect(res.status).toBe(400);
      const o = (await res.json()) as { issue: { expression?: string[] }[] };
      expect(o.issue[0].expression?.[0]).toBe(where);
    };
    await broken(1, { priority: 'soon' }, 'PlanDefinition.action[1].priority');
    await broken(2, { timingDuration: { value: 5, unit: 'fortnight', code: 'fortnight' } }, 'PlanDefinition.action[2].timingDuration');
    await broken(0, { condition: [{ kind: 'applicability', expression: { language: 'text/fhirpath', expression: "%instrument = 'phq-9' and" } }] }, 'PlanDefinition.action[0].condition[0].expression.expression');
    await broken(0, { condition: [{ kind: 'applicability', expression: { language: 'text/fhirpath', expression: "%nope = 'phq-9'" } }] }, 'PlanDefinition.action[0].condition[0].expression.expression');
    expect((await s.fhir('PlanDefinition/risk-rules', { method: 'DELETE', token: admin })).status).toBe(405);
  });

  test('a tenant sets a short deadline and adds a rule without code', async () => {
    const action = rules.action?.map((a) => (a.id === 'phq9-item9' ? { ...a, timingDuration: { value: 2, unit: 's', system: 'http://unitsofmeasure.org', code: 's' } } : a)) ?? [];
    action.push({
      id: 'gad7-severe',
      title: 'GAD-7 15 or more',
      description: 'Call the patient today.',
      priority: 'asap',
      timingDuration: { value: 2, unit: 'h', system: 'http://unitsofmeasure.org', code: 'h' },
      condition: [{ kind: 'applicability', expression: { language: 'text/fhirpath', expression: "%instrument = 'gad-7' and %total >= 15" } }],
    });
    const res = await s.fhir('PlanDefinition/risk-rules', { method: 'PUT', token: admin, json: { ...rules, version: '1.1.0', action } });
    expect(res.status, await res.clone().text()).toBe(200);

    const p = await patient(s, c);
    await submit(s, c.tenant, phq9(p, 1));
    const [task] = await riskTasks(s, c.tenant, p);
    expect(task.instantiatesCanonical).toBe('http://bh-fhir.org/fhir/PlanDefinition/risk-rules|1.1.0');
    const period = task.restriction?.period;
    expect(new Date(period?.end ?? '').getTime() - new Date(period?.start ?? '').getTime()).toBe(2000);
    s.clock.advance(3000);
    expect(await s.server.loops.risk.runOnce()).toBe(1);

    const q = await patient(s, c);
    const gad = await import('./instruments-fixtures.ts');
    await submit(s, c.tenant, gad.responseFor('gad-7', [3, 3, 3, 3, 3, 0, 0], { subject: { reference: `Patient/${q}` } }));
    const [gadTask] = await riskTasks(s, c.tenant, q);
    expect(gadTask).toMatchObject({ priority: 'asap', reasonCode: { coding: [{ code: 'gad7-severe' }] } });
  });

  test('a suicide-risk finding no rule matches still raises a stat Task, with a note saying why', async () => {
    // No rules: no action at all (FHIR JSON has no empty arrays).
    const { action: _rules, ...none } = rules;
    const res = await s.fhir('PlanDefinition/risk-rules', { method: 'PUT', token: admin, json: { ...none, version: '2.0.0' } });
    expect(res.status, await res.clone().text()).toBe(200);
    const p = await patient(s, c);
    const response = await submit(s, c.tenant, phq9(p, 1));
    const [task] = await riskTasks(s, c.tenant, p);
    expect(task).toMatchObject({ priority: 'stat', status: 'requested', owner: { reference: `Practitioner/${c.rivera}` } });
    expect(task.reasonCode?.coding?.[0]?.code).toBe('suicide-risk-finding');
    expect(task.note?.some((n) => n.text.includes('no rule of the tenant\'s rule set matched'))).toBe(true);
    expect(await crisisMessages(s, c.tenant, response)).toHaveLength(1);
  });
});
