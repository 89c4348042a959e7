import type { Observation } from '@medplum/fhirtypes';
import { LOINC, OBSERVATION_CATEGORY, SCORE_UNIT, profileUrl } from '../codes.ts';
import type { InstrumentRule } from './definitions.ts';

/**
 * A scored total in the shape of the codes.ts contract, for tests, the benchmark and imports of
 * historical scores that have no QuestionnaireResponse. Live scores come from the instruments
 * write hook, which derives them from the completed response. The assessment-score profile
 * requires `derivedFrom`: pass the record the score came from (default: a QuestionnaireResponse
 * id derived from patient, instrument and time, which the caller may or may not store).
 */
export function scoreObservation(
  patientId: string,
  rule: InstrumentRule,
  effective: string,
  value: number,
  status: Observation['status'] = 'final',
  derivedFrom = `QuestionnaireResponse/${`${patientId}-${rule.key}-${effective.replace(/[^0-9]/g, '')}`.slice(-64)}`
): Observation {
  return {
    resourceType: 'Observation',
    meta: { profile: [profileUrl('assessment-score')] },
    status,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'survey' }] }],
    code: { coding: [{ system: LOINC, code: rule.totalCode, display: `${rule.name} total score` }], text: rule.name },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: effective,
    valueQuantity: { value, ...SCORE_UNIT },
    derivedFrom: [{ reference: derivedFrom }],
  };
}
