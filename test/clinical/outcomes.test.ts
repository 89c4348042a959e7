import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PROGRAM_SYSTEM } from '../../server/src/clinical/codes.ts';
import { GAD7, type InstrumentRule, PHQ9 } from '../../server/src/clinical/outcomes/definitions.ts';
import { scoreObservation } from '../../server/src/clinical/outcomes/score-observation.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * $mbc-summary and $mbc-cohort through real HTTP. Scores are created directly in the codes.ts
 * shape (the instruments hook is covered in outcomes-qr.test.ts); every expected figure below is
 * computed by hand in the comments next to it.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

let seq = 0;
async function put(resources: Resource[]): Promise<void> {
  const entry = resources.map((r) => {
    const id = r.id ?? `r${++seq}`;
    return { resource: { ...r, id }, request: { method: 'PUT', url: `${r.resourceType}/${id}` } };
  });
  const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
  expect(res.status, await res.clone().text()).toBe(200);
}

const patient = (id: string): Resource => ({ resourceType: 'Patient', id, name: [{ family: id }] });
/** Scores of one instrument for one patient: [YYYY-MM-DD, value] pairs, at 10:00 UTC. */
const series = (pid: string, rule: InstrumentRule, points: [string, number][]) =>
  points.map(([d, v]) => scoreObservation(pid, rule, `${d}T10:00:00Z`, v) as Resource);
/** Twelve weekly dates from 2025-01-06. */
const weeks = Array.from({ length: 12 }, (_, i) => new Date(Date.UTC(2025, 0, 6 + 7 * i)).toISOString().slice(0, 10));

const param = (p: { parameter?: ParametersParameter[] }, name: string) => p.parameter?.find((x) => x.name === name);
const parts = (p: ParametersParameter | undefined, name: string) => p?.part?.filter((x) => x.name === name) ?? [];
const part = (p: ParametersParameter | undefined, name: string) => parts(p, name)[0];
function instrument(body: Parameters, code: string): ParametersParameter {
  const found = body.parameter?.find((x) => x.name === 'instrument' && part(x, 'code')?.valueCoding?.code === code);
  if (!found) throw new Error(`no instrument ${code} in ${JSON.stringify(body)}`);
  return found;
}
function outcome(i: ParametersParameter) {
  const v = (n: string) => {
    const x = part(i, n);
    return x?.valueDecimal ?? x?.valueBoolean ?? x?.valueInteger ?? x?.valueDateTime;
  };
  return {
    assessments: v('assessments'),
    baseline: v('baseline'),
    latest: v('latest'),
    change: v('change'),
    percentChange: v('percentChange'),
    response: v('response'),
    remission: v('remission'),
    reliableImprovement: v('reliableImprovement'),
  };
}
async function summary(pid: string, token?: string): Promise<Parameters> {
  const res = await s.fhir(`Patient/${pid}/$mbc-summary`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}
const recoveryOf = (b: Parameters) => part(param(b, 'recovery'), 'status')?.valueCode;

describe('Patient/$mbc-summary', () => {
  beforeAll(async () => {
    // A 12-week course: PHQ-9 and GAD-7 weekly on the same days.
    const phq = [18, 16, 15, 13, 12, 10, 9, 8, 7, 6, 5, 4];
    const gad = [12, 11, 10, 9, 9, 8, 7, 6, 5, 5, 4, 3];
    await put([
      patient('course'),
      ...series('course', PHQ9, weeks.map((d, i) => [d, phq[i]])),
      ...series('course', GAD7, weeks.map((d, i) => [d, gad[i]])),
      // Neither an error nor a preliminary result counts (codes.ts: final, amended, corrected).
      scoreObservation('course', PHQ9, '2025-04-01T10:00:00Z', 27, 'entered-in-error'),
      scoreObservation('course', PHQ9, '2025-04-02T10:00:00Z', 27, 'preliminary'),
    ]);
  });

  test('a 12-week course matches the hand computation', async () => {
    const body = await summary('course');
    expect(param(body, 'patient')?.valueReference?.reference).toBe('Patient/course');
    // PHQ-9: 18 → 4. change −14; −14/18 = −77.8 %; drop 14 ≥ 9 (half of 18) → response;
    // 4 < 5 → remission (NQF 0710); drop 14 ≥ 6 → reliable improvement (NHS Talking Therapies).
    expect(outcome(instrument(body, '44261-6'))).toEqual({
      assessments: 12, baseline: 18, latest: 4, change: -14, percentChange: -77.8, response: true, remission: true, reliableImprovement: true,
    });
    // GAD-7: 12 → 3. change −9; −9/12 = −75 %; response; 3 < 5 remission; drop 9 ≥ 4 reliable.
    expect(outcome(instrument(body, '70274-6'))).toEqual({
      assessments: 12, baseline: 12, latest: 3, change: -9, percentChange: -75, response: true, remission: true, reliableImprovement: true,
    });
    const phq = instrument(body, '44261-6');
    expect(part(phq, 'baselineDate')?.valueDateTime).toBe('2025-01-06T10:00:00Z');
    expect(part(phq, 'latestDate')?.valueDateTime).toBe('2025-03-24T10:00:00Z');
    expect(parts(phq, 'score').map((x) => part(x, 'value')?.valueDecimal)).toEqual([18, 16, 15, 13, 12, 10, 9, 8, 7, 6, 5, 4]);
    // Recovery: first pair 18/12 is at caseness (18 ≥ 10); last pair 4/3 is below both (4 < 10, 3 < 8).
    expect(recoveryOf(body)).toBe('recovered');
    expect(part(param(body, 'recovery'), 'lastPaired')?.valueDate).toBe('2025-03-24');
  });

  test('boundaries: exactly 50 %, a drop of exactly 6, a drop of 4 on GAD-7', async () => {
    await put([
      patient('edge'),
      ...series('edge', PHQ9, [['2025-01-06', 12], ['2025-02-03', 6]]),
      ...series('edge', GAD7, [['2025-01-06', 9], ['2025-02-03', 5]]),
    ]);
    const body = await summary('edge');
    // PHQ-9 12 → 6: drop 6 = exactly half → response; drop 6 = reliable change; 6 ≥ 5 → no remission.
    expect(outcome(instrument(body, '44261-6'))).toMatchObject({ change: -6, percentChange: -50, response: true, reliableImprovement: true, remission: false });
    // GAD-7 9 → 5: drop 4 = reliable change; 4/9 = 44.4 % < 50 → no response; 5 is not < 5.
    expect(outcome(instrument(body, '70274-6'))).toMatchObject({ change: -4, percentChange: -44.4, response: false, reliableImprovement: true, remission: false });
    // At caseness at the start (12 ≥ 10); at the end 6 < 10 and 5 < 8 → recovered.
    expect(recoveryOf(body)).toBe('recovered');
  });

  test('just short of the cut-offs: 49 %, a drop of 5, GAD-7 8 stays at caseness', async () => {
    await put([
      patient('short'),
      ...series('short', PHQ9, [['2025-01-06', 14], ['2025-02-03', 9]]),
      ...series('short', GAD7, [['2025-01-06', 10], ['2025-02-03', 8]]),
    ]);
    const body = await summary('short');
    // 14 → 9: drop 5 < 7 (half) → no response; 5 < 6 → not reliable; −35.7 %.
    expect(outcome(instrument(body, '44261-6'))).toMatchObject({ change: -5, percentChange: -35.7, response: false, reliableImprovement: false, remission: false });
    // GAD-7 8 is still caseness (≥ 8) → not recovered.
    expect(recoveryOf(body)).toBe('not-recovered');
  });

  test('baseline below caseness: improvement is reported but recovery does not apply', async () => {
    await put([
      patient('mild'),
      ...series('mild', PHQ9, [['2025-01-06', 8], ['2025-01-20', 6], ['2025-02-03', 3]]),
      ...series('mild', GAD7, [['2025-01-06', 6], ['2025-02-03', 2]]),
    ]);
    const body = await summary('mild');
    // PHQ-9 8 → 3: drop 5 ≥ 4 → response (62.5 %); 3 < 5 remission; drop 5 < 6 not reliable.
    expect(outcome(instrument(body, '44261-6'))).toMatchObject({ assessments: 3, change: -5, percentChange: -62.5, response: true, remission: true, reliableImprovement: false });
    // First pair 8/6: PHQ-9 < 10 and GAD-7 < 8 → not at caseness.
    expect(recoveryOf(body)).toBe('not-at-caseness');
  });

  test('one assessment: baseline only; no pairs: recovery has insufficient data', async () => {
    await put([patient('once'), ...series('once', PHQ9, [['2025-01-06', 15]])]);
    const body = await summary('once');
    const o = outcome(instrument(body, '44261-6'));
    expect(o).toMatchObject({ assessments: 1, baseline: 15, latest: 15 });
    expect(o.change).toBeUndefined();
    expect(o.response).toBeUndefined();
    expect(body.parameter?.filter((p) => p.name === 'instrument')).toHaveLength(1);
    expect(recoveryOf(body)).toBe('insufficient-data');
  });

  test('POST answers the same; unknown patient 404; no Observation access 403', async () => {
    const res = await s.fhir('Patient/course/$mbc-summary', { method: 'POST', json: { resourceType: 'Parameters' } });
    expect(res.status).toBe(200);
    expect(outcome(instrument(await res.json(), '44261-6')).latest).toBe(4);
    expect((await s.fhir('Patient/nobody/$mbc-summary')).status).toBe(404);
    const patientsOnly = await s.token('system/Patient.rs');
    const denied = await s.fhir('Patient/course/$mbc-summary', { token: patientsOnly });
    expect(denied.status).toBe(403);
    expect((await denied.json()).resourceType).toBe('OperationOutcome');
  });
});

describe('$mbc-cohort', () => {
  const depression = { coding: [{ system: PROGRAM_SYSTEM, code: 'depression' }] };
  const anxiety = { coding: [{ system: PROGRAM_SYSTEM, code: 'anxiety' }] };
  const schedule = (rule: InstrumentRule, periodWeeks: number, start: string, end?: string) => ({
    detail: {
      kind: 'ServiceRequest',
      code: { coding: [{ system: 'http://loinc.org', code: rule.panelCode }] },
      status: 'scheduled',
      scheduledTiming: { repeat: { frequency: 1, period: periodWeeks, periodUnit: 'wk', boundsPeriod: { start, ...(end ? { end } : {}) } } },
    },
  });
  const plan = (id: string, pid: string, category: object, activity: object[] = []): Resource =>
    ({ resourceType: 'CarePlan', id, status: 'active', intent: 'plan', category: [category], subject: { reference: `Patient/${pid}` }, period: { start: '2025-01-06' }, ...(activity.length ? { activity } : {}) }) as Resource;
  const coverage = (id: string, pid: string, org: string): Resource =>
    ({ resourceType: 'Coverage', id, status: 'active', beneficiary: { reference: `Patient/${pid}` }, payor: [{ reference: `Organization/${org}` }] }) as Resource;
  const team = (id: string, prac: string, pids: string[]): Resource[] =>
    pids.map((pid) => ({ resourceType: 'CareTeam', id: `${id}-${pid}`, status: 'active', subject: { reference: `Patient/${pid}` }, participant: [{ member: { reference: `Practitioner/${prac}` } }] }) as Resource);

  beforeAll(async () => {
    await s.ensureTenant('cohort');
    const token = await s.token('system/*.cruds', 'cohort');
    const entry = [
      ...['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].map(patient),
      { resourceType: 'Organization', id: 'orgA', name: 'Payer A' },
      { resourceType: 'Organization', id: 'orgB', name: 'Payer B' },
      { resourceType: 'Practitioner', id: 'drX' },
      { resourceType: 'Practitioner', id: 'drY' },
      plan('cp1', 'c1', depression, [schedule(PHQ9, 2, '2025-01-06', '2025-03-30')]),
      plan('cp2', 'c2', depression, [schedule(PHQ9, 4, '2025-01-06')]),
      plan('cp3', 'c3', depression),
      plan('cp4', 'c4', anxiety, [schedule(GAD7, 2, '2025-01-06', '2025-03-30')]),
      plan('cp5', 'c5', anxiety),
      coverage('cov1', 'c1', 'orgA'), coverage('cov2', 'c2', 'orgA'), coverage('cov4', 'c4', 'orgA'),
      coverage('cov3', 'c3', 'orgB'), coverage('cov5', 'c5', 'orgB'),
      ...team('tx', 'drX', ['c1', 'c3', 'c5']),
      ...team('ty', 'drY', ['c2', 'c4']),
      ...series('c1', PHQ9, [['2024-12-01', 25], ['2025-01-06', 20], ['2025-01-20', 14], ['2025-02-03', 9], ['2025-02-17', 4]]),
      ...series('c1', GAD7, [['2025-01-06', 10], ['2025-02-17', 5]]),
      ...series('c2', PHQ9, [['2025-01-06', 15], ['2025-02-17', 12]]),
      ...series('c3', PHQ9, [['2025-01-13', 10], ['2025-03-10', 5]]),
      ...series('c4', PHQ9, [['2025-01-06', 9]]),
      ...series('c4', GAD7, [['2025-01-06', 15], ['2025-03-03', 6]]),
      ...series('c5', GAD7, [['2025-01-06', 9], ['2025-02-03', 10]]),
      ...series('c6', PHQ9, [['2025-01-06', 12], ['2025-03-24', 3]]),
    ].map((r) => {
      const id = (r as Resource).id ?? `o${++seq}`;
      return { resource: { ...r, id }, request: { method: 'PUT', url: `${(r as Resource).resourceType}/${id}` } };
    });
    const res = await s.fhir('', { token, method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(res.status, await res.clone().text()).toBe(200);
  });

  async function cohort(query: string): Promise<Parameters> {
    const token = await s.token('system/*.cruds', 'cohort');
    const res = await s.fhir(`$mbc-cohort?${query}`, { token });
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json();
  }
  const m = (i: ParametersParameter, name: string) => {
    const p = part(i, name);
    return [part(p, 'count')?.valueInteger, part(p, 'denominator')?.valueInteger];
  };
  const figures = (body: Parameters, code: string) => {
    const i = instrument(body, code);
    return {
      patients: part(i, 'patients')?.valueInteger,
      paired: part(i, 'patientsWithTwoOrMore')?.valueInteger,
      response: m(i, 'response'),
      remission: m(i, 'remission'),
      reliable: m(i, 'reliableImprovement'),
      median: part(i, 'medianChange')?.valueDecimal,
      scheduled: m(i, 'scheduledCompleted'),
    };
  };
  const Q1 = 'start=2025-01-01&end=2025-03-31';

  test('the whole tenant in Q1 2025', async () => {
    const body = await cohort(Q1);
    expect(param(body, 'patients')?.valueInteger).toBe(6);
    expect(param(body, 'patientsWithTwoOrMore')?.valueInteger).toBe(6);
    // PHQ-9 in Q1 (c1's December score is outside): c1 20→4, c2 15→12, c3 10→5, c6 12→3; c4 has one.
    // Response: c1, c3 (exactly 50 %), c6 = 3/4. Remission (< 5): c1, c6 = 2/4 (c3's 5 is not < 5).
    // Reliable (drop ≥ 6): c1 (16), c6 (9) = 2/4. Median of −16, −9, −5, −3 = −7.
    // Scheduled: c1 every 2 wk 01-06..03-30 → 6 expected, 4 recorded; c2 every 4 wk from 01-06
    // to the window's end (03-31 inclusive) → 01-06, 02-03, 03-03, 03-31 = 4 expected, 2 recorded.
    expect(figures(body, PHQ9.totalCode)).toEqual({
      patients: 5, paired: 4, response: [3, 4], remission: [2, 4], reliable: [2, 4], median: -7, scheduled: [6, 10],
    });
    // GAD-7: c1 10→5 (50 %, drop 5 ≥ 4), c4 15→6 (60 %, drop 9), c5 9→10. Response 2/3, remission
    // 0/3, reliable 2/3, median of −5, −9, +1 = −5. Scheduled: c4 6 expected, 2 recorded.
    expect(figures(body, GAD7.totalCode)).toEqual({
      patients: 3, paired: 3, response: [2, 3], remission: [0, 3], reliable: [2, 3], median: -5, scheduled: [2, 6],
    });
    const total = param(body, 'scheduledCompleted');
    expect([part(total, 'count')?.valueInteger, part(total, 'denominator')?.valueInteger, part(total, 'rate')?.valueDecimal]).toEqual([8, 16, 0.5]);
  });

  test('program filter (CarePlan.category)', async () => {
    const body = await cohort(`${Q1}&program=${encodeURIComponent(`${PROGRAM_SYSTEM}|depression`)}`);
    // c1, c2, c3: responders c1, c3; remission c1; reliable c1; median of −16, −3, −5 = −5.
    expect(figures(body, PHQ9.totalCode)).toEqual({ patients: 3, paired: 3, response: [2, 3], remission: [1, 3], reliable: [1, 3], median: -5, scheduled: [6, 10] });
    // Only the depression plans' schedules count: no GAD-7 expected.
    expect(figures(body, GAD7.totalCode)).toMatchObject({ patients: 1, paired: 1, scheduled: [0, 0] });
    expect(param(body, 'patients')?.valueInteger).toBe(3);
  });

  test('payer filter (Coverage.payor)', async () => {
    const body = await cohort(`${Q1}&payer=Organization/orgA`);
    // c1, c2, c4: PHQ-9 c1 and c2 paired (c4 once); GAD-7 c1 and c4.
    expect(figures(body, PHQ9.totalCode)).toMatchObject({ patients: 3, paired: 2, response: [1, 2], median: -9.5 });
    expect(figures(body, GAD7.totalCode)).toMatchObject({ patients: 2, paired: 2, response: [2, 2], reliable: [2, 2] });
  });

  test('practitioner filter (CareTeam participant), combined with program', async () => {
    const body = await cohort(`${Q1}&practitioner=drX`);
    // c1, c3, c5.
    expect(param(body, 'patients')?.valueInteger).toBe(3);
    expect(figures(body, PHQ9.totalCode)).toMatchObject({ patients: 2, paired: 2, response: [2, 2] });
    expect(figures(body, GAD7.totalCode)).toMatchObject({ patients: 2, paired: 2, response: [1, 2] });
    const both = await cohort(`${Q1}&practitioner=Practitioner/drY&program=anxiety`);
    // drY has c2 and c4; the anxiety program has c4 and c5 → c4 only.
    expect(param(both, 'patients')?.valueInteger).toBe(1);
    expect(figures(both, GAD7.totalCode)).toMatchObject({ patients: 1, paired: 1, response: [1, 1], scheduled: [2, 6] });
  });

  test('date window: the baseline is the first score inside it', async () => {
    const feb = await cohort('start=2025-02-01&end=2025-03-31');
    // PHQ-9 from February: c1 9→4 paired; c2, c3, c6 once each.
    expect(figures(feb, PHQ9.totalCode)).toMatchObject({ patients: 4, paired: 1, response: [1, 1], remission: [1, 1], reliable: [0, 1], median: -5 });
    const all = await cohort('end=2025-12-31');
    // Without a start c1's baseline is December's 25: 25 → 4, still the same flags; median of −21, −3, −5, −9 = −7.
    expect(figures(all, PHQ9.totalCode)).toMatchObject({ patients: 5, paired: 4, median: -7 });
  });

  test('POST Parameters gives the same answer', async () => {
    const token = await s.token('system/*.cruds', 'cohort');
    const res = await s.fhir('$mbc-cohort', {
      token,
      method: 'POST',
      json: { resourceType: 'Parameters', parameter: [{ name: 'start', valueDate: '2025-01-01' }, { name: 'end', valueDate: '2025-03-31' }, { name: 'payer', valueReference: { reference: 'Organization/orgB' } }] },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    // c3, c5.
    expect(param(await res.json(), 'patients')?.valueInteger).toBe(2);
  });

  test("a clinician's figures cover only the patients they treat (access composed into the SQL)", async () => {
    const token = await s.personToken({ tenant: 'cohort', scope: 'user/*.rs', fhirUser: 'Practitioner/drX', roles: ['clinician'] });
    const res = await s.fhir(`$mbc-cohort?${Q1}`, { token });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json();
    // drX's care teams: c1, c3, c5 — the same figures as the practitioner filter.
    expect(param(body, 'patients')?.valueInteger).toBe(3);
    expect(figures(body, PHQ9.totalCode)).toMatchObject({ patients: 2, paired: 2, response: [2, 2] });
    // c1's PHQ-9 schedule only (6 expected, 4 recorded); c2's is not drX's.
    expect(figures(body, PHQ9.totalCode).scheduled).toEqual([4, 6]);
  });

  test('bad input is a 400 naming the parameter; a narrowed policy gets 403', async () => {
    const token = await s.token('system/*.cruds', 'cohort');
    for (const [q, name] of [['start=yesterday', 'start'], ['payer=a/b/c', 'payer'], ['colour=blue', 'colour'], ['start=2025-03-01&end=2025-01-01', 'start']]) {
      const res = await s.fhir(`$mbc-cohort?${q}`, { token });
      expect(res.status, q).toBe(400);
      const o = await res.json();
      expect(o.issue[0].expression, q).toEqual([name]);
    }
    const narrow = await s.token('system/Observation.rs system/Patient.rs', 'cohort');
    const res = await s.fhir(`$mbc-cohort?${Q1}`, { token: narrow });
    expect(res.status).toBe(403);
    expect((await res.json()).issue[0].diagnostics).toContain('CarePlan');
  });
});

describe('$mbc-cohort follows updates and deletes of scores and plans (mbc_score, mbc_schedule)', () => {
  const TENANT = 'cohort-rows';
  let token: string;
  const Q1 = 'start=2025-01-01&end=2025-03-31';
  async function write(method: 'PUT' | 'DELETE', r: Resource): Promise<void> {
    const url = `${r.resourceType}/${r.id}`;
    const res = await s.fhir(url, { token, method, ...(method === 'PUT' ? { json: r } : {}) });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
  }
  async function figures(code: string) {
    const res = await s.fhir(`$mbc-cohort?${Q1}`, { token });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as Parameters;
    const i = instrument(body, code);
    const m = (name: string) => [part(part(i, name), 'count')?.valueInteger, part(part(i, name), 'denominator')?.valueInteger];
    return { patients: part(i, 'patients')?.valueInteger, paired: part(i, 'patientsWithTwoOrMore')?.valueInteger, response: m('response'), median: part(i, 'medianChange')?.valueDecimal, scheduled: m('scheduledCompleted') };
  }
  const score = (id: string, rule: InstrumentRule, date: string, value: number, status: 'final' | 'entered-in-error' = 'final') =>
    ({ ...scoreObservation('r1', rule, `${date}T10:00:00Z`, value, status), id }) as Resource;
  const plan = (status: string, start: string, end?: string) =>
    ({
      resourceType: 'CarePlan', id: 'plan1', status, intent: 'plan', subject: { reference: 'Patient/r1' }, period: { start },
      activity: [{ detail: { kind: 'ServiceRequest', code: { coding: [{ system: 'http://loinc.org', code: PHQ9.panelCode }] }, status: 'scheduled',
        scheduledTiming: { repeat: { frequency: 1, period: 4, periodUnit: 'wk', ...(end ? { boundsPeriod: { end } } : {}) } } } }],
    }) as Resource;

  beforeAll(async () => {
    await s.ensureTenant(TENANT);
    token = await s.token('system/*.cruds', TENANT);
    await write('PUT', patient('r1'));
  });

  test('a score changed, voided, recoded or deleted counts as it now is', async () => {
    await write('PUT', score('s1', PHQ9, '2025-01-06', 20));
    await write('PUT', score('s2', PHQ9, '2025-02-03', 10));
    expect(await figures(PHQ9.totalCode)).toMatchObject({ patients: 1, paired: 1, response: [1, 1], median: -10 });
    await write('PUT', score('s2', PHQ9, '2025-02-03', 15));
    expect(await figures(PHQ9.totalCode)).toMatchObject({ patients: 1, paired: 1, response: [0, 1], median: -5 });
    await write('PUT', score('s2', PHQ9, '2025-02-03', 15, 'entered-in-error'));
    expect(await figures(PHQ9.totalCode)).toMatchObject({ patients: 1, paired: 0 });
    // Recoded as a GAD-7 total: it leaves PHQ-9 and joins GAD-7.
    await write('PUT', score('s2', GAD7, '2025-02-03', 6));
    expect(await figures(PHQ9.totalCode)).toMatchObject({ patients: 1, paired: 0 });
    expect(await figures(GAD7.totalCode)).toMatchObject({ patients: 1, paired: 0 });
    // Moved out of the window.
    await write('PUT', score('s2', GAD7, '2025-06-03', 6));
    expect(await figures(GAD7.totalCode)).toMatchObject({ patients: 0 });
    await write('DELETE', score('s1', PHQ9, '2025-01-06', 20));
    expect(await figures(PHQ9.totalCode)).toMatchObject({ patients: 0, paired: 0 });
  });

  test("a plan's schedule follows its updates and its delete; a year-month bound is read as that month", async () => {
    // Every 4 weeks from 2025-01-06: 01-06, 02-03, 03-03, 03-31 in Q1.
    await write('PUT', plan('active', '2025-01-06'));
    expect((await figures(PHQ9.totalCode)).scheduled).toEqual([0, 4]);
    // Ends with February (a year-month end covers the month): 01-06, 02-03.
    await write('PUT', plan('active', '2025-01-06', '2025-02'));
    expect((await figures(PHQ9.totalCode)).scheduled).toEqual([0, 2]);
    await write('PUT', plan('draft', '2025-01-06'));
    expect((await figures(PHQ9.totalCode)).scheduled).toEqual([0, 0]);
    await write('PUT', plan('active', '2025-01'));
    // From 2025-01-01: 01-01, 01-29, 02-26, 03-26.
    expect((await figures(PHQ9.totalCode)).scheduled).toEqual([0, 4]);
    await write('DELETE', plan('active', '2025-01'));
    expect((await figures(PHQ9.totalCode)).scheduled).toEqual([0, 0]);
  });
});
