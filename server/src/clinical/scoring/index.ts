import type { CodeableConcept, Coding, Observation, Patient, Questionnaire, QuestionnaireItem, QuestionnaireResponse } from '@medplum/fhirtypes';
import { LOINC, OBSERVATION_CATEGORY, ORDINAL_VALUE, RISK_FLAG_SYSTEM, SCORE_UNIT, SEVERITY_SYSTEM, profileUrl } from '../codes.ts';
import { extractObservations } from '../extract/index.ts';
import { calculate, withCalculated } from './calculate.ts';
import { type BandResult, INSTRUMENTS, type InstrumentDefinition, type RiskFinding, type Sex, instrumentByUrl } from './definitions.ts';
import { answersOf, optionFor, validateResponse } from './validate-response.ts';

export { INSTRUMENTS, instrumentByUrl } from './definitions.ts';
export type { Band, BandResult, InstrumentDefinition, RiskFinding, Sex } from './definitions.ts';
export { validateResponse } from './validate-response.ts';

/**
 * Server-side scoring of a QuestionnaireResponse against its Questionnaire (which the caller has
 * resolved by canonical url|version). The total comes from the Questionnaire's SDC
 * calculatedExpression; the band and risk findings from the instrument definition (./definitions.ts)
 * when the Questionnaire is one of the shipped instruments. Nothing the client sent as a score is
 * used: calculated answers are recomputed and ordinal values are read from the Questionnaire.
 */
export interface ScoreResult {
  instrument?: InstrumentDefinition;
  /** The response with every calculated item's answer set by the server. */
  response: QuestionnaireResponse;
  /** Calculated values by linkId (the instrument total among them). */
  values: Map<string, number>;
  total?: number;
  band?: BandResult;
  risks: RiskFinding[];
  /** Ordinal value of each answered choice item, by linkId (from the Questionnaire). */
  ordinals: Map<string, number>;
}

export function scoreResponse(questionnaire: Questionnaire, response: QuestionnaireResponse, options: { sex?: Sex; validate?: boolean } = {}): ScoreResult {
  if (options.validate !== false) validateResponse(questionnaire, response, { complete: true });
  const values = calculate(questionnaire, response);
  const scored = withCalculated(questionnaire, response, values);
  const { ordinals, codes } = answerValues(questionnaire, response);
  const instrument = instrumentByUrl(questionnaire.url);
  const result: ScoreResult = { instrument, response: scored, values, risks: [], ordinals };
  if (instrument && values.has(instrument.totalLinkId)) {
    const total = values.get(instrument.totalLinkId) as number;
    const ctx = { sex: options.sex ?? 'unknown', ordinals, codes };
    result.total = total;
    result.band = instrument.band(total, ctx);
    result.risks = instrument.risks?.(total, ctx) ?? [];
  }
  return result;
}

/** Patient.gender → the sex AUDIT-C's cut-points distinguish; anything else is unknown. */
export function sexOf(patient: Patient | undefined): Sex {
  return patient?.gender === 'male' ? 'male' : patient?.gender === 'female' ? 'female' : 'unknown';
}

/** Ordinal value (from the Questionnaire, never the answer) and code of each answered choice item. */
function answerValues(questionnaire: Questionnaire, response: QuestionnaireResponse): { ordinals: Map<string, number>; codes: Map<string, string> } {
  const out = new Map<string, number>();
  const codes = new Map<string, string>();
  const visit = (items: QuestionnaireItem[]) => {
    for (const q of items) {
      const coding = answersOf(response.item ?? [], q.linkId)[0]?.valueCoding;
      const option = coding && optionFor(q, coding);
      if (option?.valueCoding?.code) codes.set(q.linkId, option.valueCoding.code);
      const ext = option && (option.extension ?? []).concat(option.valueCoding?.extension ?? []).find((e) => e.url === ORDINAL_VALUE);
      const n = ext?.valueDecimal ?? ext?.valueInteger;
      if (typeof n === 'number') out.set(q.linkId, n);
      if (q.item) visit(q.item);
    }
  };
  visit(questionnaire.item ?? []);
  return { ordinals: out, codes };
}

/**
 * The Observations a scored response yields (SDC observation-based extraction of the flagged
 * items), with the instrument total in the codes.ts contract shape (profile, survey category,
 * valueQuantity {score}, severity band then risk flags as interpretation) and risk flags on the
 * item that raised them (interpretation and meta.tag, see RISK_FLAG_SYSTEM in codes.ts). `response` must carry its id (derivedFrom).
 */
export function scoreObservations(questionnaire: Questionnaire, score: ScoreResult, status: 'final' | 'amended'): Observation[] {
  const survey: CodeableConcept[] = [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'survey', display: 'Survey' }] }];
  const instrument = score.instrument;
  const riskConcept = (r: RiskFinding): CodeableConcept => ({ coding: [{ system: RISK_FLAG_SYSTEM, code: r.code, display: r.display }], text: r.display });
  const riskTag = (r: RiskFinding): Coding => ({ system: RISK_FLAG_SYSTEM, code: r.code, display: r.display });
  return extractObservations(questionnaire, score.response).map(({ linkId, observation }) => {
    const obs: Observation = { ...observation, status, category: observation.category ?? survey };
    if (instrument && linkId === instrument.totalLinkId && score.total !== undefined && score.band) {
      const band = score.band;
      return {
        ...obs,
        // The assessment-score profile wants a LOINC total; the ASQ has none (its result is a local code).
        meta: {
          ...(instrument.totalCode.system === LOINC ? { profile: [profileUrl('assessment-score')] } : {}),
          ...(score.risks.length ? { tag: score.risks.map(riskTag) } : {}),
        },
        category: survey,
        valueQuantity: { value: score.total, ...SCORE_UNIT },
        interpretation: [
          { coding: [{ system: SEVERITY_SYSTEM, code: band.code, display: band.display }], text: band.note ? `${band.display} (${band.note})` : band.display },
          ...score.risks.map(riskConcept),
        ],
      };
    }
    const flags = score.risks.filter((r) => r.linkId === linkId);
    return flags.length ? { ...obs, meta: { tag: flags.map(riskTag) }, interpretation: flags.map(riskConcept) } : obs;
  });
}

export const instruments = (): InstrumentDefinition[] => Object.values(INSTRUMENTS);
