import type { Encounter, Observation, Patient, Quantity, RiskAssessment } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, BASE, openFixture, rejection } from './test-fixture.ts';

/**
 * Every parameter type, modifier and prefix against a real database (PGlite by default,
 * PostgreSQL with DATABASE_URL). Each expected answer is worked out by hand from the R4 spec;
 * the reasoning sits next to the case.
 */
let fx: Fixture;
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const patient = (id: string, extra: Partial<Patient>): Patient => ({ resourceType: 'Patient', id, ...extra });
const obs = (id: string, extra: Partial<Observation>): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { text: 'x' },
  ...extra,
});
const qty = (value: number, code?: string, system?: string, unit?: string): Quantity => ({ value, code, system, unit });

beforeAll(async () => {
  fx = await openFixture();
  const rows = [
    // --- strings and tokens
    patient('eve', {
      name: [{ family: 'Smith', given: ['Évé'] }],
      gender: 'female',
      active: true,
      birthDate: '1980-05-15',
      identifier: [{ system: 'http://mrn', value: '123', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'Medical record' } }],
      meta: { tag: [{ system: 'http://tags', code: 'vip' }], security: [{ system: 'http://sec', code: 'R' }], profile: ['http://example.org/StructureDefinition/p1'], source: 'http://source/a' },
    }),
    patient('eva', { name: [{ family: 'Smythe', given: ['Eva'] }], gender: 'female', active: false, birthDate: '1980-05' }),
    patient('steve', { name: [{ family: 'Adams', given: ['Steve'] }], gender: 'male', birthDate: '1980' }),
    patient('zed', { name: [{ family: 'Zed', given: ['Zed'] }], birthDate: '1981-01-01' }),
    patient('nobody', { name: [{ family: 'Nobody' }] }),
    // --- token codes
    obs('t1', { code: { coding: [{ system: LOINC, code: '1234', display: 'Blood Pressure' }] } }),
    obs('t2', { code: { coding: [{ system: 'http://snomed.info/sct', code: '1234' }] } }),
    obs('t3', { code: { coding: [{ code: '1234' }] } }),
    obs('t4', { code: { coding: [{ system: LOINC, code: '9999' }], text: 'Heart rate' } }),
    // --- quantities (value-quantity)
    obs('q1', { valueQuantity: qty(5.4, 'mg', UCUM, 'mg') }),
    obs('q2', { valueQuantity: qty(5.4, 'g', UCUM, 'g') }),
    obs('q3', { valueQuantity: qty(5400, 'mg', UCUM, 'mg') }),
    obs('q4', { valueQuantity: { value: 5.4, unit: 'mg' } }),
    obs('q5', { valueQuantity: qty(5.4, 'mg', 'http://example.org/units') }),
    // --- composites: top-level code+value, and blood-pressure components
    obs('sys120', { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: qty(120, 'mm[Hg]', UCUM) }),
    obs('sys90', { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: qty(90, 'mm[Hg]', UCUM) }),
    obs('bp1', {
      code: { coding: [{ system: LOINC, code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: qty(120, 'mm[Hg]', UCUM) },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: qty(80, 'mm[Hg]', UCUM) },
      ],
    }),
    obs('bp2', {
      code: { coding: [{ system: LOINC, code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: qty(95, 'mm[Hg]', UCUM) },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: qty(130, 'mm[Hg]', UCUM) },
      ],
    }),
    // --- references
    obs('r1', { subject: { reference: 'Patient/eve' } }),
    obs('r2', { subject: { reference: `${BASE}/Patient/eva` } }),
    obs('r3', { subject: { reference: 'Group/g1' } }),
    obs('r4', { subject: { identifier: { system: 'http://mrn', value: '123' } } }),
    obs('r5', { subject: { reference: 'http://elsewhere.org/fhir/Patient/eve' } }),
  ];
  for (const r of rows) await fx.create(r);

  // --- dates as periods (Encounter.period → `date`)
  const enc = (id: string, period: Encounter['period']): Encounter => ({
    resourceType: 'Encounter',
    id,
    status: 'finished',
    class: { code: 'AMB' },
    period,
  });
  await fx.create(enc('e1', { start: '2020-01-10', end: '2020-01-20' })); // [2020-01-10, 2020-01-21)
  await fx.create(enc('e2', { start: '2019-12-25', end: '2020-01-05' })); // [2019-12-25, 2020-01-06)
  await fx.create(enc('e3', { start: '2020-01-15' })); // [2020-01-15, +∞)
  await fx.create(enc('e4', { end: '2019-06-01' })); // (−∞, 2019-06-02)

  // --- numbers (RiskAssessment.prediction.probability → `probability`)
  const ra = (id: string, p: RiskAssessment['prediction']): RiskAssessment => ({
    resourceType: 'RiskAssessment',
    id,
    status: 'final',
    subject: { reference: 'Patient/eve' },
    prediction: p,
  });
  await fx.create(ra('n9-4', [{ probabilityDecimal: 9.4 }]));
  await fx.create(ra('n9-5', [{ probabilityDecimal: 9.5 }]));
  await fx.create(ra('n10', [{ probabilityDecimal: 10 }]));
  await fx.create(ra('n10-49', [{ probabilityDecimal: 10.49 }]));
  await fx.create(ra('n10-5', [{ probabilityDecimal: 10.5 }]));
  await fx.create(ra('range5-8', [{ probabilityRange: { low: { value: 5, code: '%', system: UCUM }, high: { value: 8, code: '%', system: UCUM } } }]));

  // --- uri and canonical references
  await fx.create({ resourceType: 'ValueSet', id: 'vs1', status: 'active', url: 'http://acme.org/fhir/ValueSet/123' });
  await fx.create({ resourceType: 'ValueSet', id: 'vs2', status: 'active', url: 'http://acme.org/fhir/ValueSet/456' });
  await fx.create({ resourceType: 'QuestionnaireResponse', id: 'qr1', status: 'completed', questionnaire: 'http://example.org/Questionnaire/phq9|1.0' });
});
afterAll(() => fx.close());

describe('string (R4 search.html#string)', () => {
  it('default: case- and accent-insensitive starts-with on any part of the name', async () => {
    // "eve" starts "Évé" once accents and case are folded; "Steve" contains but does not start with it.
    expect(await fx.find('Patient', 'name=eve')).toEqual(['eve']);
    expect(await fx.find('Patient', 'family=sm')).toEqual(['eva', 'eve']);
    expect(await fx.find('Patient', 'given=EVA')).toEqual(['eva']);
  });
  it(':contains matches anywhere, :exact matches case and accents', async () => {
    expect(await fx.find('Patient', 'name:contains=eve')).toEqual(['eve', 'steve']);
    expect(await fx.find('Patient', 'given:exact=Évé')).toEqual(['eve']);
    expect(await fx.find('Patient', 'given:exact=eve')).toEqual([]);
  });
  it('comma is OR, repetition is AND', async () => {
    expect(await fx.find('Patient', 'given=eva,steve')).toEqual(['eva', 'steve']);
    expect(await fx.find('Patient', 'family=sm&given=eva')).toEqual(['eva']);
  });
  it('treats LIKE wildcards in the value literally', async () => {
    expect(await fx.find('Patient', 'name=%25')).toEqual([]);
    expect(await fx.find('Patient', 'name=_ve')).toEqual([]);
  });
});

describe('token (R4 search.html#token)', () => {
  it('code, system|code, |code, system|', async () => {
    expect(await fx.find('Observation', 'code=1234')).toEqual(['t1', 't2', 't3']);
    expect(await fx.find('Observation', `code=${LOINC}|1234`)).toEqual(['t1']);
    expect(await fx.find('Observation', 'code=|1234')).toEqual(['t3']); // no system at all
    expect(await fx.find('Observation', `code=${LOINC}|&_id=t1,t4,t2`)).toEqual(['t1', 't4']);
  });
  it(':not excludes resources having a matching code, keeping those with none', async () => {
    expect(await fx.find('Observation', '_id=t1,t2,t3,t4&code:not=1234')).toEqual(['t4']);
    expect(await fx.find('Observation', `_id=t1,t2,t3,t4&code:not=${LOINC}|1234`)).toEqual(['t2', 't3', 't4']);
    // :not with a comma list: excludes resources having either value.
    expect(await fx.find('Observation', '_id=t1,t2,t3,t4&code:not=1234,9999')).toEqual([]);
    expect(await fx.find('Patient', 'gender:not=female')).toEqual(['nobody', 'steve', 'zed']);
  });
  it(':text matches the start of the display/text or of a word in it', async () => {
    expect(await fx.find('Observation', 'code:text=blood')).toEqual(['t1']);
    expect(await fx.find('Observation', 'code:text=PRESS')).toEqual(['t1']);
    expect(await fx.find('Observation', 'code:text=rate')).toEqual(['t4']);
    expect(await fx.find('Observation', 'code:text=ssure')).toEqual([]);
  });
  it(':of-type, :missing, booleans, identifiers', async () => {
    expect(await fx.find('Patient', 'identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123')).toEqual(['eve']);
    expect(await fx.find('Patient', 'identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|999')).toEqual([]);
    expect(await fx.find('Patient', 'identifier=http://mrn|123')).toEqual(['eve']);
    expect(await fx.find('Patient', 'identifier:text=medical')).toEqual(['eve']);
    expect(await fx.find('Patient', 'gender:missing=true')).toEqual(['nobody', 'zed']);
    expect(await fx.find('Patient', 'gender:missing=false')).toEqual(['eva', 'eve', 'steve']);
    expect(await fx.find('Patient', 'active=true')).toEqual(['eve']);
    expect(await fx.find('Patient', 'active=false')).toEqual(['eva']);
  });
  it('_tag, _security, _profile, _source, _id', async () => {
    expect(await fx.find('Patient', '_tag=http://tags|vip')).toEqual(['eve']);
    expect(await fx.find('Patient', '_security=R')).toEqual(['eve']);
    expect(await fx.find('Patient', '_profile=http://example.org/StructureDefinition/p1')).toEqual(['eve']);
    expect(await fx.find('Patient', '_source=http://source/a')).toEqual(['eve']);
    expect(await fx.find('Patient', '_id=eva,zed')).toEqual(['eva', 'zed']);
    expect(await fx.find('Patient', '_tag:missing=true&_id=eve,eva')).toEqual(['eva']);
  });
});

describe('date (R4 search.html#date and the prefix table)', () => {
  // Birth dates: eve 1980-05-15 → [05-15, 05-16); eva 1980-05 → [05-01, 06-01);
  // steve 1980 → [1980-01-01, 1981-01-01); zed 1981-01-01 → [1981-01-01, 01-02); nobody: none.
  // Search value 1980-05 → [sl, sh) = [1980-05-01, 1980-06-01).
  const q = (v: string) => fx.find('Patient', `birthdate=${v}`);
  it('eq: the search range contains the value range', async () => {
    expect(await q('1980-05')).toEqual(['eva', 'eve']); // steve's whole year is not inside May
    expect(await q('eq1980')).toEqual(['eva', 'eve', 'steve']);
    expect(await q('1980-05-15')).toEqual(['eve']);
  });
  it('ne: not contained (only resources that have a value)', async () => {
    expect(await q('ne1980-05')).toEqual(['steve', 'zed']);
  });
  it('gt / lt: the value range reaches beyond the search range', async () => {
    // gt: high > 1980-06-01 → steve (high 1981-01-01) and zed; eva's high is exactly 06-01.
    expect(await q('gt1980-05')).toEqual(['steve', 'zed']);
    // lt: low < 1980-05-01 → steve only (low 1980-01-01).
    expect(await q('lt1980-05')).toEqual(['steve']);
  });
  it('ge / le: gt or eq, lt or eq', async () => {
    // ge = low >= sl OR high > sh: eve, eva (inside), steve (extends past), zed (after).
    expect(await q('ge1980-05')).toEqual(['eva', 'eve', 'steve', 'zed']);
    // le = high <= sh OR low < sl: eve, eva (inside), steve (starts before); zed is after.
    expect(await q('le1980-05')).toEqual(['eva', 'eve', 'steve']);
    // A range AND: ge1980-05-10 & lt1980-06 → eve (inside); eva starts 05-01 (<05-10) and
    // ends 06-01 (not past the ge range's end 05-11?): ge1980-05-10 means low >= 05-10 OR
    // high > 05-11 — eva's high 06-01 > 05-11 ✓; lt1980-06 means low < 06-01 ✓ → eva too.
    expect(await fx.find('Patient', 'birthdate=ge1980-05-10&birthdate=lt1980-06')).toEqual(['eva', 'eve', 'steve']);
  });
  it('sa / eb: entirely after / before', async () => {
    expect(await q('sa1980-05')).toEqual(['zed']); // low >= 1980-06-01
    expect(await q('eb1980-05')).toEqual([]); // high <= 1980-05-01: nobody
    expect(await q('eb1981')).toEqual(['eva', 'eve', 'steve']); // high <= 1981-01-01
  });
  it('ap: overlaps the search range widened by 10% of the distance to now', async () => {
    // 1980 is ~45 years ago: ±4.5 years around 1980-05 covers all four birth dates.
    expect(await q('ap1980-05')).toEqual(['eva', 'eve', 'steve', 'zed']);
  });

  // Periods: e1 [2020-01-10, 2020-01-21), e2 [2019-12-25, 2020-01-06), e3 [2020-01-15, ∞),
  // e4 (−∞, 2019-06-02). Search 2020-01 = [2020-01-01, 2020-02-01).
  const e = (v: string) => fx.find('Encounter', `date=${v}`);
  it('compares periods, open ends included', async () => {
    expect(await e('2020-01')).toEqual(['e1']); // only e1 lies inside January
    expect(await e('ne2020-01')).toEqual(['e2', 'e3', 'e4']);
    expect(await e('gt2020-01')).toEqual(['e3']); // only e3 extends past January
    expect(await e('lt2020-01')).toEqual(['e2', 'e4']); // start before January
    expect(await e('ge2020-01')).toEqual(['e1', 'e3']); // e2 starts before and ends inside: neither gt nor eq
    expect(await e('le2020-01')).toEqual(['e1', 'e2', 'e4']);
    expect(await e('sa2019-12')).toEqual(['e1', 'e3']); // start on/after 2020-01-01
    expect(await e('eb2020-01')).toEqual(['e4']); // end on/before 2020-01-01
  });
  it('accepts time zones and full instants', async () => {
    // 2020-01-20T23:30-05:00 is 2020-01-21T04:30Z: after e1 ends.
    expect(await e('gt2020-01-20T23:30:00-05:00')).toEqual(['e3']);
    expect(await e('2020-01-12T10:00:00Z')).toEqual([]); // no encounter lies within one second
    expect(await e('lt2020-01-12T10:00:00Z')).toEqual(['e1', 'e2', 'e4']);
  });
  it('_lastUpdated uses the resource row', async () => {
    expect((await fx.find('Patient', '_lastUpdated=gt2000-01-01')).length).toBe(5);
    expect(await fx.find('Patient', '_lastUpdated=lt2000-01-01')).toEqual([]);
    const today = new Date().toISOString().slice(0, 10);
    expect((await fx.find('Patient', `_lastUpdated=ap${today}`)).length).toBe(5);
  });
});

describe('number (R4 search.html#number)', () => {
  // probabilities 9.4, 9.5, 10, 10.49, 10.5 and a Range [5, 8].
  const n = (v: string) => fx.find('RiskAssessment', `probability=${v}`);
  it('eq uses the implicit precision of the search value', async () => {
    expect(await n('10')).toEqual(['n10', 'n10-49', 'n9-5']); // [9.5, 10.5)
    expect(await n('10.0')).toEqual(['n10']); // [9.95, 10.05)
    expect(await n('1e1')).toEqual(['n10', 'n10-49', 'n10-5', 'n9-4', 'n9-5', 'range5-8']); // [5, 15)
    expect(await n('ne10')).toEqual(['n10-5', 'n9-4', 'range5-8']);
  });
  it('gt/lt/ge/le compare with the exact value', async () => {
    expect(await n('gt10')).toEqual(['n10-49', 'n10-5']);
    expect(await n('ge10')).toEqual(['n10', 'n10-49', 'n10-5']);
    expect(await n('lt10')).toEqual(['n9-4', 'n9-5', 'range5-8']); // the Range lies below 10
    expect(await n('le10')).toEqual(['n10', 'n9-4', 'n9-5', 'range5-8']);
    expect(await n('lt6')).toEqual(['range5-8']); // part of [5, 8] lies below 6
    expect(await n('gt6')).toEqual(['n10', 'n10-49', 'n10-5', 'n9-4', 'n9-5', 'range5-8']); // and part above
  });
  it('sa/eb: entirely above/below; ap: within 10%', async () => {
    expect(await n('sa6')).toEqual(['n10', 'n10-49', 'n10-5', 'n9-4', 'n9-5']);
    expect(await n('eb9.5')).toEqual(['n9-4', 'range5-8']);
    expect(await n('ap10')).toEqual(['n10', 'n10-49', 'n10-5', 'n9-4', 'n9-5']); // [9, 11]
  });
});

describe('quantity (R4 search.html#quantity)', () => {
  // q1 5.4 mg, q2 5.4 g, q3 5400 mg, q4 5.4 with unit text "mg" only, q5 5.4 "mg" in a non-UCUM system.
  const v = (s: string) => fx.find('Observation', `value-quantity=${encodeURIComponent(s)}`);
  it('UCUM units compare canonically', async () => {
    expect(await v(`5.4|${UCUM}|mg`)).toEqual(['q1']);
    expect(await v(`5.4|${UCUM}|g`)).toEqual(['q2', 'q3']); // 5400 mg = 5.4 g
    expect(await v(`gt5|${UCUM}|g`)).toEqual(['q2', 'q3']);
    expect(await v(`lt1|${UCUM}|g`)).toEqual(['q1']);
    // A value is never greater than itself, even after the mg → g conversion.
    expect(await v(`gt5.4|${UCUM}|mg`)).toEqual(['q2', 'q3']);
  });
  it('other systems match system and code as written; ||code matches code or unit; no unit matches any', async () => {
    expect(await v('5.4|http://example.org/units|mg')).toEqual(['q5']);
    expect(await v('5.4||mg')).toEqual(['q1', 'q4', 'q5']);
    expect(await v('5.4')).toEqual(['q1', 'q2', 'q4', 'q5']);
  });
});

describe('composite (R4 search.html#composite)', () => {
  it('matches code and value of the same resource', async () => {
    expect(await fx.find('Observation', `code-value-quantity=${LOINC}|8480-6$gt100`)).toEqual(['sys120']);
    expect(await fx.find('Observation', `code-value-quantity=8480-6$lt100,8480-6$gt110`)).toEqual(['sys120', 'sys90']);
  });
  it(':missing looks at the first component', async () => {
    expect(await fx.find('Observation', '_id=bp1,sys120,t1&component-code-value-quantity:missing=false')).toEqual(['bp1']);
    expect(await fx.find('Observation', '_id=bp1,sys120,t1&component-code-value-quantity:missing=true')).toEqual(['sys120', 't1']);
  });
  it('requires both components within one component occurrence', async () => {
    // bp2 has 8480-6 = 95 and 8462-4 = 130: 8480-6 > 100 is not true of any single component.
    expect(await fx.find('Observation', `component-code-value-quantity=${LOINC}|8480-6$gt100`)).toEqual(['bp1']);
    expect(await fx.find('Observation', `component-code-value-quantity=${LOINC}|8462-4$gt100`)).toEqual(['bp2']);
  });
});

describe('reference (R4 search.html#reference)', () => {
  it('Type/id, id, :Type, absolute URL under our base', async () => {
    expect(await fx.find('Observation', 'subject=Patient/eve')).toEqual(['r1']);
    expect(await fx.find('Observation', 'subject=eva')).toEqual(['r2']); // stored as an absolute URL under our base
    expect(await fx.find('Observation', 'subject:Patient=eva')).toEqual(['r2']);
    expect(await fx.find('Observation', `subject=${BASE}/Patient/eve`)).toEqual(['r1']);
    expect(await fx.find('Observation', 'subject=Group/g1')).toEqual(['r3']);
    expect(await fx.find('Observation', 'patient=g1')).toEqual([]); // patient only follows Patient references
  });
  it('foreign absolute URLs, :identifier, :missing', async () => {
    expect(await fx.find('Observation', 'subject=http://elsewhere.org/fhir/Patient/eve')).toEqual(['r5']);
    expect(await fx.find('Observation', 'subject:identifier=http://mrn|123')).toEqual(['r4']);
    expect(await fx.find('Observation', '_id=r1,r4,t1&subject:missing=true')).toEqual(['r4', 't1']); // r4 has only an identifier
  });
  it('canonical URLs with and without |version', async () => {
    expect(await fx.find('QuestionnaireResponse', 'questionnaire=http://example.org/Questionnaire/phq9')).toEqual(['qr1']);
    expect(await fx.find('QuestionnaireResponse', 'questionnaire=http://example.org/Questionnaire/phq9|1.0')).toEqual(['qr1']);
    expect(await fx.find('QuestionnaireResponse', 'questionnaire=http://example.org/Questionnaire/phq9|2.0')).toEqual([]);
  });
});

describe('uri (R4 search.html#uri)', () => {
  it('exact, :below, :above', async () => {
    expect(await fx.find('ValueSet', 'url=http://acme.org/fhir/ValueSet/123')).toEqual(['vs1']);
    expect(await fx.find('ValueSet', 'url=http://acme.org/fhir/ValueSet')).toEqual([]);
    expect(await fx.find('ValueSet', 'url:below=http://acme.org/fhir/')).toEqual(['vs1', 'vs2']);
    expect(await fx.find('ValueSet', 'url:above=http://acme.org/fhir/ValueSet/123/_history/5')).toEqual(['vs1']);
  });
});

describe('bad input', () => {
  it('is a 400 naming the parameter, never a database error', async () => {
    expect(await rejection(fx.search('Patient', 'birthdate=2020-02-30T25:00'))).toMatchObject({ kind: 'invalid', expression: ['birthdate'] });
    expect(await rejection(fx.search('RiskAssessment', 'probability=1e99999'))).toMatchObject({ kind: 'invalid' });
    expect(await rejection(fx.search('Observation', 'subject=a b'))).toMatchObject({ kind: 'invalid', expression: ['subject'] });
    expect(await rejection(fx.search('Patient', '_cursor=bm9wZQ'))).toMatchObject({ kind: 'invalid', expression: ['_cursor'] });
    // Quotes, backslashes and SQL in values are just values.
    expect(await fx.find('Patient', `name=${encodeURIComponent("x'); DROP TABLE resource; --")}`)).toEqual([]);
    expect(await fx.find('Patient', `name=${encodeURIComponent('\\')}`)).toEqual([]);
  });

  it('answers odd but well-formed values, and rejects the rest as 400s (never a database error)', async () => {
    const odd = [
      ['Patient', 'birthdate=9999'],
      ['Patient', 'birthdate=lt0000'],
      ['Patient', 'birthdate=ap0001'],
      ['Patient', '_lastUpdated=ap9999-12-31T23:59:59Z'],
      ['RiskAssessment', 'probability=1e999'],
      ['RiskAssessment', 'probability=ap-0.0'],
      ['Observation', `value-quantity=${encodeURIComponent('1e-999|http://unitsofmeasure.org|mg')}`],
      ['Observation', `value-quantity=${encodeURIComponent('ne5||')}`],
      ['Observation', 'code=%E2%80%8B'],
      ['Observation', `code=${encodeURIComponent('a\\|b|c')}`],
      ['ValueSet', 'url:above=x'],
      ['Patient', '_sort=name,-birthdate,gender,_lastUpdated,-_id'],
      ['Patient', `_id=${'a'.repeat(200)}`],
    ];
    for (const [type, query] of odd) await expect(fx.search(type, query)).resolves.toMatchObject({ resourceType: 'Bundle' });
    const bad = [
      ['Patient', 'name=%00'],
      ['Patient', 'birthdate=2020-1-1'],
      ['Patient', 'birthdate=gt'],
      ['Observation', `value-quantity=${encodeURIComponent('5|a')}`],
      ['Observation', 'code-value-quantity=a$b$c'],
      ['Observation', 'subject:Nope=1'],
      ['Observation', 'subject.nope=1'],
      ['Observation', '_has:Nope:x:y=1'],
      ['Patient', '_count=1e3'],
      ['Patient', '_include=Patient'],
      ['Patient', `_cursor=${Buffer.from(JSON.stringify({ k: ['a'], d: 'x' })).toString('base64url')}`],
    ];
    for (const [type, query] of bad) expect((await rejection(fx.search(type, query))).kind).toMatch(/^(invalid|not-supported)$/);
  });
});
