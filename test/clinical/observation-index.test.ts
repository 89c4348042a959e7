import type { Observation, QuestionnaireResponse } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { instruments, scoreObservations, scoreResponse } from '../../server/src/clinical/scoring/index.ts';
import { loadDefinitions } from '../../server/src/kernel/definitions.ts';
import { indexEveryParam, indexResource } from '../../server/src/store/indexer.ts';
import { scoreObservationRows } from '../../server/src/store/observation-index.ts';
import { responseFor, spread } from './instruments-fixtures.ts';

/**
 * The Observations the server derives from a response get their index rows built directly
 * (store/observation-index.ts): they must be exactly the rows of the general indexer, in its
 * order, for every shipped instrument's scores and items, and for the variations of that shape a
 * response can bring (author, encounter, based-on, a text, a tag, a decimal). Outside the shape,
 * the general indexer answers.
 */
const BASE = 'https://fhir.example.org/fhir/R4';

beforeAll(() => loadDefinitions());

/** As the repository stores them: an id and meta.versionId / lastUpdated added (store/repository.ts prepare). */
function stored(observations: Observation[]): Observation[] {
  return observations.map((o, i) => ({ ...o, id: `obs-${i}`, meta: { ...o.meta, versionId: '1', lastUpdated: '2026-12-05T10:00:00.123Z' } }));
}

function derivedFrom(response: QuestionnaireResponse, status: 'final' | 'amended'): Observation[] {
  const d = instruments().find((x) => response.questionnaire?.startsWith(`${x.url}|`));
  if (!d) throw new Error('no instrument');
  const score = scoreResponse(d.questionnaire, response, { sex: 'female', validate: false });
  return stored(scoreObservations(d.questionnaire, { ...score, response: { ...score.response, id: 'qr-1' } }, status));
}

function expectSameRows(o: Observation): 'direct' | 'general' {
  const direct = scoreObservationRows(o, BASE);
  const general = indexEveryParam(o, BASE);
  if (direct) expect(direct, JSON.stringify(o)).toEqual(general);
  expect(indexResource(o, BASE)).toEqual(general);
  return direct ? 'direct' : 'general';
}

describe('index rows of derived Observations, built directly', () => {
  test('every instrument, low, middle and top totals, final and amended: the general indexer\'s rows, in its order', () => {
    let direct = 0;
    let all = 0;
    for (const d of instruments()) {
      for (const total of [0, Math.floor(d.maxTotal / 2), d.maxTotal]) {
        const response = responseFor(d.name, spread(d, total), { subject: { reference: 'Patient/p-1' } });
        for (const status of ['final', 'amended'] as const) {
          for (const o of derivedFrom(response, status)) {
            all++;
            if (expectSameRows(o) === 'direct') direct++;
          }
        }
      }
    }
    expect(all).toBeGreaterThan(100);
    // The scored instruments' Observations (coded answers, quantity totals) all take the direct way.
    expect(direct).toBeGreaterThan(all * 0.8);
  });

  test('a PHQ-9 response with an author, an encounter and a request it is based on', () => {
    const d = instruments().find((x) => x.name === 'phq-9');
    if (!d) throw new Error('phq-9');
    const response = responseFor('phq-9', spread(d, 21), {
      subject: { reference: 'Patient/p-1', display: 'Pat' },
      author: { reference: 'Practitioner/dr-1' },
      encounter: { reference: 'Encounter/e-1' },
      basedOn: [{ reference: 'ServiceRequest/sr-1' }],
    });
    const observations = derivedFrom(response, 'final');
    expect(observations.length).toBe(10);
    for (const o of observations) expect(expectSameRows(o)).toBe('direct');
  });

  test('variations of the shape: texts, several codings, tags, decimals, no unit, no effective time', () => {
    const base: Observation = {
      resourceType: 'Observation',
      id: 'o-1',
      meta: { versionId: '2', lastUpdated: '2026-12-05T10:00:00Z', tag: [{ system: 'urn:t', code: 'x', display: 'Éclat' }, { code: 'bare' }] },
      status: 'amended',
      category: [{ coding: [{ system: 'urn:c', code: 'survey' }], text: 'Survey' }, { text: 'only text' }],
      code: { coding: [{ system: 'http://loinc.org', code: '1-8' }, { system: 'urn:local', code: 'A', display: 'Ä' }] },
      subject: { reference: 'Patient/p-1' },
      effectiveDateTime: '2026-11',
      valueCodeableConcept: { coding: [{ system: 'urn:v', code: 'v1', display: 'Yes' }], text: 'Yes, sometimes' },
      derivedFrom: [{ reference: 'QuestionnaireResponse/qr-1' }, { reference: 'Observation/o-0', display: 'earlier' }],
      interpretation: [{ text: 'anything' }],
    };
    const variants: Observation[] = [
      base,
      { ...base, valueCodeableConcept: undefined, valueQuantity: { value: 1.5 } },
      { ...base, valueCodeableConcept: undefined, valueQuantity: { value: 12, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } },
      { ...base, valueCodeableConcept: undefined, valueQuantity: { unit: 'score' } },
      { ...base, effectiveDateTime: undefined, category: undefined, meta: undefined },
      { ...base, code: { text: 'text only' }, status: 'preliminary' },
      { ...base, performer: [{ reference: 'Patient/p-1' }, { reference: 'RelatedPerson/rp-1' }], partOf: [{ reference: 'Procedure/pr-1' }] },
    ];
    for (const v of variants) {
      const o = JSON.parse(JSON.stringify(v)) as Observation;
      expect(expectSameRows(o), JSON.stringify(o)).toBe('direct');
    }
  });

  test('outside the shape the general indexer answers', () => {
    const base: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p-1' } };
    const outside: Observation[] = [
      { ...base, subject: { reference: 'Group/g-1' } },
      { ...base, subject: { reference: `${BASE}/Patient/p-1` } },
      { ...base, subject: { reference: 'Patient/p-1/_history/2' } },
      { ...base, subject: { identifier: { system: 'urn:x', value: '1' } } },
      { ...base, valueInteger: 3 },
      { ...base, valueString: 'x' },
      { ...base, note: [{ text: 'n' }] },
      { ...base, component: [{ code: { text: 'c' }, valueQuantity: { value: 1 } }] },
      { ...base, meta: { source: 'urn:s' } },
      { ...base, code: { coding: [{ system: 'urn:x', code: 'c', version: '1' }] } },
      { ...base, effectivePeriod: { start: '2026-01-01' } },
    ];
    for (const o of outside) expect(expectSameRows(o), JSON.stringify(o)).toBe('general');
  });
});
