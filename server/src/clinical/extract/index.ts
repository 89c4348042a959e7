import type {
  Bundle,
  CodeableConcept,
  Coding,
  Extension,
  Observation,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
  Reference,
} from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { QUESTIONNAIRE_UNIT, SDC_OBSERVATION_EXTRACT, SDC_OBSERVATION_EXTRACT_CATEGORY } from '../codes.ts';

/**
 * SDC observation-based extraction (https://build.fhir.org/ig/HL7/sdc/extraction.html#observation-based-extraction).
 *
 * - `sdc-questionnaire-observationExtract` = true on the Questionnaire root, on an item (inherited by
 *   its descendants, which may set false), or on one item.code (only that code is used).
 * - one Observation per answer of a flagged item that has a code; unanswered items give nothing.
 * - status final; code = the item's codes; subject, encounter, basedOn, partOf copied from the
 *   response; effective = authored; performer = author; derivedFrom = the response.
 * - category from `sdc-questionnaire-observation-extract-category` (the nearest level wins).
 * - `questionnaire-unit` on the item turns a numeric answer into valueQuantity.
 * Pure: nothing is stored; the caller decides (the $extract operation returns a Bundle, the
 * scoring hook stores them).
 */
export interface ExtractedObservation {
  linkId: string;
  observation: Observation;
}

interface ItemRule {
  item: QuestionnaireItem;
  codes: Coding[];
  category?: CodeableConcept[];
}

export function extractObservations(questionnaire: Questionnaire, response: QuestionnaireResponse): ExtractedObservation[] {
  const rules = new Map<string, ItemRule>();
  collectRules(questionnaire.item ?? [], extractFlag(questionnaire.extension), categories(questionnaire.extension), rules);
  const out: ExtractedObservation[] = [];
  walkAnswers(response.item ?? [], (item, answer) => {
    const rule = rules.get(item.linkId ?? '');
    if (!rule || rule.codes.length === 0) return;
    const value = observationValue(answer, rule.item);
    if (!value) return;
    out.push({ linkId: item.linkId as string, observation: baseObservation(response, rule, value) });
  });
  return out;
}

/** The transaction Bundle $extract answers with (SDC: "a transaction Bundle ... for the server to process"). */
export function extractBundle(extracted: ExtractedObservation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: extracted.map(({ observation }) => ({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: observation,
      request: { method: 'POST', url: 'Observation' },
    })),
  };
}

function extractFlag(extensions: Extension[] | undefined): boolean | undefined {
  const e = extensions?.find((x) => x.url === SDC_OBSERVATION_EXTRACT);
  return typeof e?.valueBoolean === 'boolean' ? e.valueBoolean : undefined;
}

function categories(extensions: Extension[] | undefined): CodeableConcept[] | undefined {
  const found = (extensions ?? []).filter((x) => x.url === SDC_OBSERVATION_EXTRACT_CATEGORY && x.valueCodeableConcept);
  return found.length ? found.map((x) => x.valueCodeableConcept as CodeableConcept) : undefined;
}

function collectRules(items: QuestionnaireItem[], inherited: boolean | undefined, category: CodeableConcept[] | undefined, rules: Map<string, ItemRule>): void {
  for (const item of items) {
    const own = extractFlag(item.extension);
    const flag = own ?? inherited;
    const cat = categories(item.extension) ?? category;
    const codes = (item.code ?? []).filter((c) => {
      const perCode = extractFlag(c.extension);
      return perCode ?? flag === true;
    });
    if (item.linkId && item.type !== 'group' && item.type !== 'display') {
      rules.set(item.linkId, { item, codes: codes.map(stripExtensions), category: cat });
    }
    if (item.item) collectRules(item.item, flag, cat, rules);
  }
}

function walkAnswers(items: QuestionnaireResponseItem[], visit: (item: QuestionnaireResponseItem, answer: QuestionnaireResponseItemAnswer) => void): void {
  for (const item of items) {
    for (const answer of item.answer ?? []) {
      visit(item, answer);
      if (answer.item) walkAnswers(answer.item, visit);
    }
    if (item.item) walkAnswers(item.item, visit);
  }
}

type ObservationValue = Pick<Observation, 'valueCodeableConcept' | 'valueInteger' | 'valueQuantity' | 'valueBoolean' | 'valueString' | 'valueDateTime' | 'valueTime'>;

/**
 * answer.value[x] → Observation.value[x]. R4 Observation has no valueDecimal, valueDate, valueUri,
 * valueAttachment or valueReference: decimals become valueQuantity, dates valueDateTime, uris
 * valueString; attachments and references are not extracted.
 */
function observationValue(answer: QuestionnaireResponseItemAnswer, item: QuestionnaireItem): ObservationValue | undefined {
  const unit = item.extension?.find((e) => e.url === QUESTIONNAIRE_UNIT)?.valueCoding;
  const quantity = (value: number) => ({
    valueQuantity: unit ? { value, unit: unit.display ?? unit.code, system: unit.system, code: unit.code } : { value },
  });
  if (answer.valueCoding) return { valueCodeableConcept: { coding: [stripExtensions(answer.valueCoding)] } };
  if (typeof answer.valueInteger === 'number') return unit ? quantity(answer.valueInteger) : { valueInteger: answer.valueInteger };
  if (typeof answer.valueDecimal === 'number') return quantity(answer.valueDecimal);
  if (answer.valueQuantity) return { valueQuantity: answer.valueQuantity };
  if (typeof answer.valueBoolean === 'boolean') return { valueBoolean: answer.valueBoolean };
  if (typeof answer.valueString === 'string') return { valueString: answer.valueString };
  if (typeof answer.valueUri === 'string') return { valueString: answer.valueUri };
  if (answer.valueDateTime) return { valueDateTime: answer.valueDateTime };
  if (answer.valueDate) return { valueDateTime: answer.valueDate };
  if (answer.valueTime) return { valueTime: answer.valueTime };
  return undefined;
}

const PERFORMER_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'Patient', 'RelatedPerson']);
const PART_OF_TYPES = new Set(['MedicationAdministration', 'MedicationDispense', 'MedicationStatement', 'Procedure', 'Immunization', 'ImagingStudy']);
const typeOf = (r: Reference | undefined): string | undefined => r?.reference?.split('/').at(-2) ?? r?.type;

function baseObservation(response: QuestionnaireResponse, rule: ItemRule, value: ObservationValue): Observation {
  const obs: Observation = {
    resourceType: 'Observation',
    status: 'final',
    ...(rule.category ? { category: rule.category } : {}),
    code: { coding: rule.codes, ...(rule.item.text ? { text: rule.item.text } : {}) },
  };
  if (response.basedOn?.length) obs.basedOn = response.basedOn;
  // Observation.partOf admits fewer types than QuestionnaireResponse.partOf (Observation | Procedure).
  const partOf = response.partOf?.filter((r) => PART_OF_TYPES.has(typeOf(r) ?? ''));
  if (partOf?.length) obs.partOf = partOf as Observation['partOf'];
  if (response.subject) obs.subject = response.subject as Observation['subject'];
  if (response.encounter) obs.encounter = response.encounter;
  if (response.authored) obs.effectiveDateTime = response.authored;
  // Observation.performer has no Device, which QuestionnaireResponse.author allows.
  if (response.author && PERFORMER_TYPES.has(typeOf(response.author) ?? '')) obs.performer = [response.author as Reference<never>];
  Object.assign(obs, value);
  if (response.id) obs.derivedFrom = [{ reference: `QuestionnaireResponse/${response.id}` }];
  return obs;
}

function stripExtensions(c: Coding): Coding {
  const { extension: _ignored, ...rest } = c;
  return rest;
}
