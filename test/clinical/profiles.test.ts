import type { StructureDefinition } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { installProfiles } from '../../server/src/clinical/profiles/install.ts';
import { withSnapshot } from '../../server/src/clinical/profiles/snapshot.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * The platform's profiles (profiles/*.json): loaded into every tenant as StructureDefinitions,
 * and enforced on writes whose meta.profile names them (400 naming the element, nothing stored).
 */
let s: TestServer;
const P = (name: string) => `http://bh-fhir.org/fhir/StructureDefinition/${name}`;
const NAMES = ['assessment-score', 'soap-note', 'treatment-plan', 'treatment-goal', 'risk-task', 'bh-consent'];

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const score = (over: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  meta: { profile: [P('assessment-score')] },
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '44261-6', display: 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2026-01-05T10:00:00Z',
  valueQuantity: { value: 14, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' },
  derivedFrom: [{ reference: 'QuestionnaireResponse/qr1' }],
  ...over,
});

async function expectViolation(resource: Record<string, unknown>, element: string): Promise<void> {
  const res = await s.fhir(String(resource.resourceType), { method: 'POST', json: resource });
  expect(res.status).toBe(400);
  const o = await res.json();
  expect(o.resourceType).toBe('OperationOutcome');
  const named = o.issue.some((i: { severity: string; expression?: string[]; diagnostics?: string }) =>
    i.severity === 'error' && ((i.expression ?? []).some((e) => e.startsWith(element)) || i.diagnostics?.includes(element)));
  expect(named, JSON.stringify(o.issue)).toBe(true);
}

async function count(type: string): Promise<number> {
  return (await (await s.fhir(`${type}?_total=accurate&_count=0`)).json()).total;
}

describe('profiles in the tenant', () => {
  test('every profile is readable as a StructureDefinition with a snapshot', async () => {
    for (const name of NAMES) {
      const res = await s.fhir(`StructureDefinition/${name}`);
      expect(res.status, name).toBe(200);
      const sd = await res.json();
      expect(sd.url).toBe(P(name));
      expect(sd.derivation).toBe('constraint');
      expect(sd.snapshot.element.length).toBeGreaterThan(10);
    }
    const byUrl = await (await s.fhir(`StructureDefinition?url=${encodeURIComponent(P('soap-note'))}`)).json();
    expect(byUrl.entry).toHaveLength(1);
  });

  test('loading is idempotent, and a new tenant gets the profiles at creation', async () => {
    const before = await (await s.fhir('StructureDefinition/treatment-goal')).json();
    await installProfiles(s.db, 'test');
    const after = await (await s.fhir('StructureDefinition/treatment-goal')).json();
    expect(after.meta.versionId).toBe(before.meta.versionId);
    const other = await s.token('system/*.cruds', 'clinic-b');
    const res = await s.fhir('StructureDefinition/assessment-score', { token: other });
    expect(res.status).toBe(200);
  });

  test('$validate with a profile reports the violated element', async () => {
    const res = await s.fhir('Observation/$validate', {
      method: 'POST',
      json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: score({ derivedFrom: undefined }) }, { name: 'profile', valueUri: P('assessment-score') }] },
    });
    expect(res.status).toBe(200);
    const o = await res.json();
    expect(o.issue.some((i: { severity: string; expression?: string[] }) => i.severity === 'error' && i.expression?.includes('Observation.derivedFrom'))).toBe(true);
  });
});

describe('snapshot generation', () => {
  const sd = (element: Record<string, unknown>[]): StructureDefinition => ({
    resourceType: 'StructureDefinition',
    url: 'http://bh-fhir.org/fhir/StructureDefinition/t',
    name: 'T',
    status: 'draft',
    kind: 'resource',
    abstract: false,
    type: 'Goal',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Goal',
    derivation: 'constraint',
    differential: { element },
  }) as unknown as StructureDefinition;

  test('lays the differential over the R4 base snapshot', () => {
    const out = withSnapshot(sd([{ id: 'Goal.priority', path: 'Goal.priority', min: 1 }]));
    const el = out.snapshot?.element?.find((e) => e.id === 'Goal.priority');
    expect(el?.min).toBe(1);
    expect(out.snapshot?.element?.[0].path).toBe('Goal');
  });

  test('an element the base does not have, or a loosened min, fails loudly', () => {
    expect(() => withSnapshot(sd([{ id: 'Goal.startDate', path: 'Goal.startDate', min: 1 }]))).toThrow(/not in/);
    expect(() => withSnapshot(sd([{ id: 'Goal.subject', path: 'Goal.subject', min: 0 }]))).toThrow(/loosens/);
  });
});

describe('writes claiming a profile are validated against it', () => {
  test('assessment-score: a conforming score is stored', async () => {
    const res = await s.fhir('Observation', { method: 'POST', json: score() });
    expect(res.status).toBe(201);
  });

  test('assessment-score: each violation is a 400 naming the element, and nothing is stored', async () => {
    const before = await count('Observation');
    await expectViolation(score({ derivedFrom: undefined }), 'Observation.derivedFrom');
    await expectViolation(score({ derivedFrom: [{ reference: 'Observation/o1' }] }), 'Observation.derivedFrom');
    await expectViolation(score({ category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] }), 'Observation.category');
    await expectViolation(score({ code: { coding: [{ system: 'http://snomed.info/sct', code: '720433000' }] } }), 'Observation.code');
    await expectViolation(score({ valueQuantity: { value: 14, unit: 'points' } }), 'Observation.value');
    await expectViolation(score({ subject: undefined }), 'Observation.subject');
    expect(await count('Observation')).toBe(before);
  });

  test('soap-note: type, sections, encounter', async () => {
    const section = (code: string) => ({ title: code, code: { coding: [{ system: 'http://loinc.org', code }] }, text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' } });
    const note = {
      resourceType: 'Composition',
      meta: { profile: [P('soap-note')] },
      status: 'preliminary',
      type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
      subject: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
      date: '2026-01-05T10:00:00Z',
      author: [{ reference: 'Practitioner/x' }],
      title: 'Progress note',
      section: ['61150-9', '61149-1', '51848-0', '18776-5'].map(section),
    };
    expect((await s.fhir('Composition', { method: 'POST', json: note })).status).toBe(201);
    const before = await count('Composition');
    await expectViolation({ ...note, encounter: undefined }, 'Composition.encounter');
    await expectViolation({ ...note, section: note.section.slice(0, 3) }, 'Composition.section');
    await expectViolation({ ...note, type: { coding: [{ system: 'http://loinc.org', code: '34117-2' }] } }, 'Composition.type');
    expect(await count('Composition')).toBe(before);
  });

  test('treatment-plan and treatment-goal', async () => {
    const goal = {
      resourceType: 'Goal',
      meta: { profile: [P('treatment-goal')] },
      lifecycleStatus: 'active',
      description: { text: 'PHQ-9 below 5' },
      subject: { reference: 'Patient/p1' },
      target: [{ measure: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] }, detailQuantity: { value: 5, comparator: '<', unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' }, dueDate: '2026-06-30' }],
    };
    const g = await s.fhir('Goal', { method: 'POST', json: goal });
    expect(g.status).toBe(201);
    const goalId = (await g.json()).id;
    await expectViolation({ ...goal, target: [{ ...goal.target[0], dueDate: undefined }] }, 'Goal.target');
    await expectViolation({ ...goal, target: [{ ...goal.target[0], detailQuantity: undefined }] }, 'Goal.target');
    await expectViolation({ ...goal, target: [{ ...goal.target[0], measure: { text: 'mood' } }] }, 'Goal.target');
    const plan = {
      resourceType: 'CarePlan',
      meta: { profile: [P('treatment-plan')] },
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/program', code: 'depression' }] }],
      subject: { reference: 'Patient/p1' },
      goal: [{ reference: `Goal/${goalId}` }],
    };
    expect((await s.fhir('CarePlan', { method: 'POST', json: plan })).status).toBe(201);
    await expectViolation({ ...plan, goal: undefined }, 'CarePlan.goal');
    await expectViolation({ ...plan, category: [{ text: 'depression' }] }, 'CarePlan.category');
  });

  test('risk-task and bh-consent', async () => {
    const task = {
      resourceType: 'Task',
      meta: { profile: [P('risk-task')] },
      status: 'requested',
      intent: 'order',
      priority: 'urgent',
      code: { coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/risk-task', code: 'suicide-risk-follow-up' }] },
      focus: { reference: 'QuestionnaireResponse/q1' },
      for: { reference: 'Patient/p1' },
      authoredOn: '2026-01-05T10:00:00Z',
      owner: { reference: 'Practitioner/x' },
      restriction: { period: { start: '2026-01-05T10:00:00Z', end: '2026-01-05T11:00:00Z' } },
      input: [{ type: { text: 'PHQ-9 item 9' }, valueInteger: 1 }],
    };
    expect((await s.fhir('Task', { method: 'POST', json: task })).status).toBe(201);
    await expectViolation({ ...task, owner: undefined }, 'Task.owner');
    await expectViolation({ ...task, priority: undefined }, 'Task.priority');
    await expectViolation({ ...task, focus: { reference: 'Observation/o1' } }, 'Task.focus');
    const consent = {
      resourceType: 'Consent',
      meta: { profile: [P('bh-consent')], security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/p1' },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
      provision: {
        type: 'permit',
        actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: 'Practitioner/x' } }],
        class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }],
      },
    };
    expect((await s.fhir('Consent', { method: 'POST', json: consent })).status).toBe(201);
    await expectViolation({ ...consent, meta: { profile: [P('bh-consent')] } }, 'Consent.meta');
    await expectViolation({ ...consent, provision: { ...consent.provision, class: undefined } }, 'Consent.provision');
  });

  test('inside a transaction bundle a violation fails the whole bundle', async () => {
    const before = await count('Observation');
    const res = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:8f0c7a52-1d7e-4c55-9a39-0d1b2f7c1a01', resource: score(), request: { method: 'POST', url: 'Observation' } },
          { fullUrl: 'urn:uuid:8f0c7a52-1d7e-4c55-9a39-0d1b2f7c1a02', resource: score({ derivedFrom: undefined }), request: { method: 'POST', url: 'Observation' } },
        ],
      },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('Observation.derivedFrom');
    expect(await count('Observation')).toBe(before);
  });

  test('a resource that claims none of our profiles gets base validation only', async () => {
    const res = await s.fhir('Observation', { method: 'POST', json: { ...score({ derivedFrom: undefined }), meta: undefined } });
    expect(res.status).toBe(201);
  });
});
