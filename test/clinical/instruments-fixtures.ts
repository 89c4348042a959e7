import type { Coding, Observation, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { INSTRUMENTS, type InstrumentDefinition } from '../../server/src/clinical/scoring/index.ts';
import type { TestServer } from '../support/server.ts';

/** Shared by the instruments / scoring / extract tests: responses built from item scores. */
export const ORDINAL = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';

export function def(name: string): InstrumentDefinition {
  return INSTRUMENTS[name];
}

/** The answer coding of `linkId` whose ordinal value is `score` (from the shipped Questionnaire). */
export function codingFor(d: InstrumentDefinition, linkId: string, score: number): Coding {
  const item = d.questionnaire.item?.find((i) => i.linkId === linkId);
  const option = item?.answerOption?.find((o) => o.extension?.find((e) => e.url === ORDINAL)?.valueDecimal === score);
  if (!option?.valueCoding) throw new Error(`no option with score ${score} for ${d.name} ${linkId}`);
  const { system, code, display } = option.valueCoding;
  return { system, code, display };
}

/** Item scores adding up to `total`, filling items in order (each up to its highest option). */
export function spread(d: InstrumentDefinition, total: number): number[] {
  const max = (linkId: string) => Math.max(...(d.questionnaire.item?.find((i) => i.linkId === linkId)?.answerOption ?? []).map((o) => o.extension?.[0]?.valueDecimal ?? 0));
  let left = total;
  return d.scoredLinkIds.map((id) => {
    const s = Math.min(left, max(id));
    left -= s;
    return s;
  });
}

export function responseFor(
  name: string,
  scores: number[],
  extra: Partial<QuestionnaireResponse> & { items?: QuestionnaireResponseItem[] } = {}
): QuestionnaireResponse {
  const d = def(name);
  const { items = [], ...rest } = extra;
  return {
    resourceType: 'QuestionnaireResponse',
    questionnaire: `${d.url}|${d.version}`,
    status: 'completed',
    authored: '2026-11-20T10:00:00Z',
    item: [...d.scoredLinkIds.map((linkId, i) => ({ linkId, answer: [{ valueCoding: codingFor(d, linkId, scores[i]) }] })), ...items],
    ...rest,
  };
}

export async function createPatient(s: TestServer, gender?: 'male' | 'female' | 'other' | 'unknown', token?: string): Promise<string> {
  const res = await s.fhir('Patient', { method: 'POST', token, json: { resourceType: 'Patient', name: [{ family: 'Scored' }], ...(gender ? { gender } : {}) } });
  if (res.status !== 201) throw new Error(`patient create failed: ${res.status} ${await res.text()}`);
  return (await res.json()).id as string;
}

/** Observations derived from a response, by status (default: the current ones). */
export async function derived(s: TestServer, responseId: string, status = 'final,amended', token?: string): Promise<Observation[]> {
  const res = await s.fhir(`Observation?derived-from=QuestionnaireResponse/${responseId}&status=${status}&_count=100`, { token });
  if (res.status !== 200) throw new Error(`search failed: ${res.status} ${await res.text()}`);
  return ((await res.json()).entry ?? []).map((e: { resource: Observation }) => e.resource);
}

export function totalOf(d: InstrumentDefinition, observations: Observation[]): Observation[] {
  return observations.filter((o) => o.code.coding?.some((c) => c.code === d.totalCode.code));
}
