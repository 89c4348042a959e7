import type { Questionnaire } from '@medplum/fhirtypes';

/** Questionnaires exercising the SDC observation-extraction rules (extract*.test.ts). */
const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition';
const EXTRACT = (v: boolean) => ({ url: `${SDC}/sdc-questionnaire-observationExtract`, valueBoolean: v });
const CATEGORY = (code: string) => ({ url: `${SDC}/sdc-questionnaire-observation-extract-category`, valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] } });
const UNIT = { url: 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit', valueCoding: { system: 'http://unitsofmeasure.org', code: 'kg', display: 'kg' } };

export const SAMPLE_URL = 'http://example.org/Questionnaire/extract-sample';
export const sampleQuestionnaire: Questionnaire = {
  resourceType: 'Questionnaire',
  url: SAMPLE_URL,
  version: '1',
  status: 'active',
  // Root flag: every item with a code is extracted unless it says otherwise.
  extension: [EXTRACT(true), CATEGORY('vital-signs')],
  item: [
    { linkId: 'weight', text: 'Weight', type: 'decimal', code: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], extension: [UNIT] },
    { linkId: 'smoker', text: 'Smokes?', type: 'boolean', code: [{ system: 'http://example.org/q', code: 'smoker' }] },
    {
      linkId: 'mood',
      text: 'Mood',
      type: 'choice',
      code: [{ system: 'http://example.org/q', code: 'mood' }],
      answerOption: [{ valueCoding: { system: 'http://example.org/mood', code: 'good', display: 'Good' } }, { valueCoding: { system: 'http://example.org/mood', code: 'low', display: 'Low' } }],
    },
    { linkId: 'note', text: 'Anything else?', type: 'string', code: [{ system: 'http://example.org/q', code: 'note' }], extension: [EXTRACT(false)] },
    { linkId: 'nocode', text: 'No code, nothing to extract', type: 'integer' },
    {
      linkId: 'grp',
      text: 'Activity',
      type: 'group',
      item: [{ linkId: 'steps', text: 'Steps', type: 'integer', code: [{ system: 'http://example.org/q', code: 'steps' }], extension: [CATEGORY('activity')] }],
    },
    { linkId: 'skipped', text: 'Left empty', type: 'string', code: [{ system: 'http://example.org/q', code: 'skipped' }] },
  ],
};
/** Without a root flag: only the flagged code of item a is extracted; b is not. */
export const perCodeQuestionnaire: Questionnaire = {
  resourceType: 'Questionnaire',
  url: 'http://example.org/Questionnaire/per-code',
  version: '1',
  status: 'active',
  item: [
    { linkId: 'a', type: 'integer', code: [{ system: 'http://example.org/q', code: 'a-1' }, { system: 'http://example.org/q', code: 'a-2', extension: [EXTRACT(true)] }] },
    { linkId: 'b', type: 'integer', code: [{ system: 'http://example.org/q', code: 'b' }] },
  ],
};
