import type { Questionnaire, QuestionnaireItem, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { SDC_CALCULATED_EXPRESSION } from '../codes.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * Evaluates each item's SDC calculatedExpression (FHIRPath, https://hl7.org/fhir/uv/sdc/expressions.html)
 * with fhirpath.js and its R4 model, over a copy of the response stripped of every extension.
 * The stripping matters: fhirpath's weight()/ordinal() prefers a score embedded in the answer
 * over the Questionnaire's ordinalValue, and a client must not be able to choose its own score.
 * Returns the computed value per calculated linkId, in Questionnaire order.
 */
export function calculate(questionnaire: Questionnaire, response: QuestionnaireResponse): Map<string, number> {
  const calculated = calculatedItems(questionnaire.item ?? []);
  const clean = sanitize(response, new Set(calculated.map((c) => c.linkId)));
  const values = new Map<string, number>();
  for (const item of calculated) {
    const expression = item.extension?.find((e) => e.url === SDC_CALCULATED_EXPRESSION)?.valueExpression?.expression;
    if (!expression) continue;
    let result: unknown[];
    try {
      result = compiled(expression)(clean, { resource: clean, questionnaire }) as unknown[];
    } catch {
      fail('unprocessable', `The value of calculated item '${item.linkId}' could not be computed from the answers`, `Questionnaire.item.where(linkId='${item.linkId}')`);
    }
    // sum() of nothing is empty: no scored answers counts as 0.
    const value = typeof result[0] === 'number' ? result[0] : 0;
    values.set(item.linkId, value);
    // Later expressions may read earlier calculated items.
    clean.item = [...(clean.item ?? []), { linkId: item.linkId, answer: [item.type === 'integer' ? { valueInteger: value } : { valueDecimal: value }] }];
  }
  return values;
}

/**
 * Parsed FHIRPath per expression text: parsing costs far more than evaluating (~0.5 ms for a
 * PHQ-9 total), and the Questionnaires of a server use a handful of expressions. A parse error
 * is thrown at evaluation time, as fhirpath.evaluate did, and nothing is cached for it.
 */
const COMPILED_MAX = 500;
const compiledCache = new Map<string, ReturnType<typeof fhirpath.compile>>();
function compiled(expression: string): ReturnType<typeof fhirpath.compile> {
  let fn = compiledCache.get(expression);
  if (!fn) {
    fn = fhirpath.compile(expression, r4);
    if (compiledCache.size >= COMPILED_MAX) compiledCache.delete(compiledCache.keys().next().value as string);
    compiledCache.set(expression, fn);
  }
  return fn;
}

export function calculatedItems(items: QuestionnaireItem[]): QuestionnaireItem[] {
  const out: QuestionnaireItem[] = [];
  for (const item of items) {
    if (item.extension?.some((e) => e.url === SDC_CALCULATED_EXPRESSION)) out.push(item);
    if (item.item) out.push(...calculatedItems(item.item));
  }
  return out;
}

function sanitize(response: QuestionnaireResponse, calculated: Set<string>): QuestionnaireResponse {
  const items = (list: QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] | undefined =>
    list
      ?.filter((i) => !calculated.has(i.linkId))
      .map((i) => ({
        linkId: i.linkId,
        ...(i.item ? { item: items(i.item) } : {}),
        ...(i.answer
          ? {
              answer: i.answer.map((a) => {
                const { extension: _e, item: sub, ...value } = a;
                const key = Object.keys(value).find((k) => k.startsWith('value')) as keyof typeof value | undefined;
                const v = key ? value[key] : undefined;
                const cleanValue = v && typeof v === 'object' ? stripDeep(v) : v;
                return { ...(key ? { [key]: cleanValue } : {}), ...(sub ? { item: items(sub) } : {}) };
              }),
            }
          : {}),
      }));
  return { resourceType: 'QuestionnaireResponse', status: response.status, item: items(response.item) ?? [] };
}

function stripDeep(v: object): object {
  if (Array.isArray(v)) return v.map((x) => (x && typeof x === 'object' ? stripDeep(x) : x));
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'extension').map(([k, x]) => [k, x && typeof x === 'object' ? stripDeep(x) : x]));
}

/**
 * The response as stored: every calculated item's answer replaced by the server's value (a
 * client-supplied score is dropped, never trusted). Top-level calculated items are appended at
 * the end if absent; nested ones are set where their parent group appears.
 */
export function withCalculated(questionnaire: Questionnaire, response: QuestionnaireResponse, values: Map<string, number>): QuestionnaireResponse {
  const types = new Map(calculatedItems(questionnaire.item ?? []).map((i) => [i.linkId, i]));
  const answerFor = (linkId: string) => {
    const v = values.get(linkId) as number;
    return [types.get(linkId)?.type === 'integer' ? { valueInteger: v } : { valueDecimal: v }];
  };
  const placed = new Set<string>();
  const rewrite = (list: QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] | undefined =>
    list?.map((i) => {
      if (values.has(i.linkId)) {
        placed.add(i.linkId);
        const { answer: _dropped, ...rest } = i;
        return { ...rest, answer: answerFor(i.linkId) };
      }
      return {
        ...i,
        ...(i.item ? { item: rewrite(i.item) } : {}),
        ...(i.answer ? { answer: i.answer.map((a) => (a.item ? { ...a, item: rewrite(a.item) } : a)) } : {}),
      };
    });
  const items = rewrite(response.item) ?? [];
  for (const q of questionnaire.item ?? []) {
    if (values.has(q.linkId) && !placed.has(q.linkId)) items.push({ linkId: q.linkId, ...(q.text ? { text: q.text } : {}), answer: answerFor(q.linkId) });
  }
  return { ...response, item: items };
}
