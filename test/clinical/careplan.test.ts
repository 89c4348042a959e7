import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * Goal.achievementStatus follows the scored totals of the goal's patient and measure
 * (server/src/clinical/careplan/goal-achievement.ts). Scores are written directly in the
 * codes.ts shape, by a clinician of the patient's CareTeam; the plan and the goal's lifecycle
 * are never touched.
 */
let s: TestServer;
let clinician: string;
let patient: string;
let phqGoal: string;
let gadGoal: string;
let plan: string;
const P = (name: string) => `http://bh-fhir.org/fhir/StructureDefinition/${name}`;
const PHQ9 = '44261-6';
const GAD7 = '70274-6';

async function create(json: Record<string, unknown>, token?: string): Promise<string> {
  const res = await s.fhir(String(json.resourceType), { method: 'POST', json, token });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`${json.resourceType}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

const goal = (code: string, value: number) => ({
  resourceType: 'Goal',
  meta: { profile: [P('treatment-goal')] },
  lifecycleStatus: 'active',
  description: { text: `LOINC ${code} total below ${value}` },
  subject: { reference: `Patient/${patient}` },
  startDate: '2026-01-01',
  target: [{ measure: { coding: [{ system: 'http://loinc.org', code }] }, detailQuantity: { value, comparator: '<', unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' }, dueDate: '2026-06-30' }],
});

let day = 1;
async function score(code: string, value: number): Promise<void> {
  day += 1;
  await create({
    resourceType: 'Observation',
    meta: { profile: [P('assessment-score')] },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `2026-02-${String(day).padStart(2, '0')}T10:00:00Z`,
    valueQuantity: { value, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' },
    derivedFrom: [{ reference: `QuestionnaireResponse/qr-${day}` }],
  }, clinician);
}

async function achievement(id: string): Promise<{ code?: string; text?: string; lifecycle: string; versionId: string }> {
  const g = await (await s.fhir(`Goal/${id}`)).json();
  return { code: g.achievementStatus?.coding?.[0]?.code, text: g.achievementStatus?.text, lifecycle: g.lifecycleStatus, versionId: g.meta.versionId };
}

beforeAll(async () => {
  s = await startTestServer();
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Goalson' }] });
  const practitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Care' }] });
  await create({ resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${patient}` }, participant: [{ member: { reference: `Practitioner/${practitioner}` } }] });
  clinician = await s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${practitioner}`, roles: ['clinician'] });
  phqGoal = await create(goal(PHQ9, 5));
  gadGoal = await create(goal(GAD7, 5));
  plan = await create({
    resourceType: 'CarePlan',
    meta: { profile: [P('treatment-plan')] },
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/program', code: 'depression' }] }],
    subject: { reference: `Patient/${patient}` },
    goal: [{ reference: `Goal/${phqGoal}` }, { reference: `Goal/${gadGoal}` }],
  });
});
afterAll(async () => {
  await s?.close();
});

describe('goal achievementStatus follows the scores', () => {
  test('a first score: in progress, nothing to compare with', async () => {
    await score(PHQ9, 15);
    const a = await achievement(phqGoal);
    expect(a.code).toBe('in-progress');
    expect(a.text).toContain('PHQ-9 total 15');
  });

  test('a change smaller than the reliable-change threshold (PHQ-9: 6) is no change', async () => {
    await score(PHQ9, 12);
    expect((await achievement(phqGoal)).code).toBe('no-change');
  });

  test('a drop of 6 or more from the first score is improving', async () => {
    await score(PHQ9, 8);
    const a = await achievement(phqGoal);
    expect(a.code).toBe('improving');
    expect(a.text).toContain('first 15');
  });

  test('a rise of 6 or more is worsening', async () => {
    await score(PHQ9, 22);
    expect((await achievement(phqGoal)).code).toBe('worsening');
  });

  test('a score meeting the target is achieved', async () => {
    await score(PHQ9, 4);
    expect((await achievement(phqGoal)).code).toBe('achieved');
  });

  test('GAD-7 uses its own threshold (4) and its own goal', async () => {
    expect((await achievement(gadGoal)).code).toBeUndefined();
    await score(GAD7, 14);
    await score(GAD7, 10);
    expect((await achievement(gadGoal)).code).toBe('improving');
    expect((await achievement(phqGoal)).code).toBe('achieved');
  });

  test('an older score written late does not become the latest', async () => {
    day = 0; // 2026-02-01: earlier than every score so far, so it becomes the baseline only
    await score(PHQ9, 3);
    const a = await achievement(phqGoal);
    expect(a.code).toBe('achieved');
  });

  test('the lifecycle status and the plan stay as the clinician left them', async () => {
    const a = await achievement(phqGoal);
    expect(a.lifecycle).toBe('active');
    const p = await (await s.fhir(`CarePlan/${plan}`)).json();
    expect(p.meta.versionId).toBe('1');
  });

  test('goals that are not active are left alone', async () => {
    const id = await create({ ...goal(PHQ9, 5), lifecycleStatus: 'on-hold' });
    await score(PHQ9, 20);
    const g = await (await s.fhir(`Goal/${id}`)).json();
    expect(g.achievementStatus).toBeUndefined();
    expect(g.meta.versionId).toBe('1');
  });
});
