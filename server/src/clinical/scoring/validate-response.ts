import type {
  Coding,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemAnswerOption,
  QuestionnaireItemEnableWhen,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import { SDC_CALCULATED_EXPRESSION } from '../codes.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * Checks a QuestionnaireResponse against its Questionnaire (R4 questionnaireresponse.html
 * "Questionnaire conformance"): every linkId exists where it appears, answers have the item's
 * type, choice answers come from answerOption, non-repeating items have one answer, disabled
 * items (enableWhen) have none, and — when `complete` — every enabled required item is answered.
 * The first problem fails the write with 400 naming the element (expression) and the linkId.
 * Calculated items (SDC calculatedExpression) are not checked: the server computes them.
 */
export function validateResponse(questionnaire: Questionnaire, response: QuestionnaireResponse, options: { complete: boolean }): void {
  const ctx: Ctx = { response, complete: options.complete, canonical: `${questionnaire.url ?? ''}|${questionnaire.version ?? ''}` };
  checkItems(ctx, questionnaire.item ?? [], response.item ?? [], 'QuestionnaireResponse');
}

interface Ctx {
  response: QuestionnaireResponse;
  complete: boolean;
  canonical: string;
}

export function isCalculated(item: QuestionnaireItem): boolean {
  return Boolean(item.extension?.some((e) => e.url === SDC_CALCULATED_EXPRESSION));
}

function checkItems(ctx: Ctx, qItems: QuestionnaireItem[], rItems: QuestionnaireResponseItem[], path: string): void {
  const byLinkId = new Map(qItems.map((q) => [q.linkId, q]));
  const seen = new Map<string, number>();
  rItems.forEach((r, i) => {
    const at = `${path}.item[${i}]`;
    const q = byLinkId.get(r.linkId);
    if (!q) fail('invalid', `Unknown linkId '${r.linkId}': no such item here in Questionnaire ${ctx.canonical}`, at);
    if (seen.has(r.linkId) && !(q.type === 'group' && q.repeats)) {
      fail('invalid', `Item '${r.linkId}' appears more than once`, at);
    }
    seen.set(r.linkId, i);
    if (isCalculated(q)) return;
    const answers = r.answer ?? [];
    if (answers.length && !enabled(ctx, q)) fail('invalid', `Item '${r.linkId}' is answered but not enabled (its enableWhen conditions are not met)`, `${at}.answer[0]`);
    if (q.type === 'group' || q.type === 'display') {
      if (answers.length) fail('invalid', `Item '${r.linkId}' is a ${q.type} and cannot have answers`, `${at}.answer[0]`);
      checkItems(ctx, q.item ?? [], r.item ?? [], at);
      return;
    }
    if (answers.length > 1 && !q.repeats) fail('invalid', `Item '${r.linkId}' does not repeat but has ${answers.length} answers`, `${at}.answer[1]`);
    answers.forEach((a, k) => {
      checkAnswer(q, a, `${at}.answer[${k}]`);
      if (a.item?.length) checkItems(ctx, q.item ?? [], a.item, `${at}.answer[${k}]`);
    });
    if (r.item?.length) fail('invalid', `Item '${r.linkId}' is a question: nested items belong under its answers`, `${at}.item[0]`);
    if (ctx.complete && q.required && answers.length === 0) fail('invalid', `Required item '${r.linkId}' has no answer`, at);
  });
  if (ctx.complete) {
    for (const q of qItems) {
      if (!q.required || seen.has(q.linkId) || isCalculated(q) || q.type === 'display') continue;
      if (!enabled(ctx, q)) continue;
      fail('invalid', `Required item '${q.linkId}' is missing`, `${path}.item.where(linkId='${q.linkId}')`);
    }
  }
}

const VALUE_FOR_TYPE: Record<string, string[]> = {
  boolean: ['valueBoolean'],
  decimal: ['valueDecimal'],
  integer: ['valueInteger'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
  time: ['valueTime'],
  string: ['valueString'],
  text: ['valueString'],
  url: ['valueUri'],
  choice: ['valueCoding'],
  'open-choice': ['valueCoding', 'valueString'],
  attachment: ['valueAttachment'],
  reference: ['valueReference'],
  quantity: ['valueQuantity'],
};

function checkAnswer(q: QuestionnaireItem, a: QuestionnaireResponseItemAnswer, at: string): void {
  const present = Object.keys(a).filter((k) => k.startsWith('value'));
  const allowed = VALUE_FOR_TYPE[q.type] ?? [];
  if (present.length !== 1 || !allowed.includes(present[0])) {
    fail('invalid', `Item '${q.linkId}' (type ${q.type}) needs an answer of ${allowed.join(' or ') || 'no value'}, got ${present.join(', ') || 'no value'}`, at);
  }
  const key = present[0];
  if (key === 'valueCoding' && q.answerOption?.length) {
    if (!optionFor(q, a.valueCoding as Coding)) {
      const c = a.valueCoding as Coding;
      fail('invalid', `Answer ${c.system ?? ''}|${c.code ?? ''} to item '${q.linkId}' is not one of its answer options`, at);
    }
  } else if (q.answerOption?.length && key !== 'valueString') {
    const prop = key as keyof QuestionnaireResponseItemAnswer;
    const match = q.answerOption.some((o) => JSON.stringify((o as Record<string, unknown>)[prop]) === JSON.stringify(a[prop]));
    if (!match) fail('invalid', `Answer to item '${q.linkId}' is not one of its answer options`, at);
  }
}

/** The answerOption a coding selects: same system and code (a coding without system matches on code). */
export function optionFor(q: QuestionnaireItem, c: Coding): QuestionnaireItemAnswerOption | undefined {
  return q.answerOption?.find((o) => o.valueCoding && o.valueCoding.code === c.code && (c.system === undefined || o.valueCoding.system === c.system));
}

/** R4 enableWhen: operators exists, =, !=, >, <, >=, <=; enableBehavior any | all (default all). */
function enabled(ctx: Ctx, q: QuestionnaireItem): boolean {
  if (!q.enableWhen?.length) return true;
  const results = q.enableWhen.map((w) => conditionHolds(ctx, w));
  return q.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
}

function conditionHolds(ctx: Ctx, w: QuestionnaireItemEnableWhen): boolean {
  const answers = answersOf(ctx.response.item ?? [], w.question);
  if (w.operator === 'exists') return (answers.length > 0) === (w.answerBoolean ?? true);
  const expected = Object.entries(w).find(([k]) => k.startsWith('answer'))?.[1];
  return answers.some((a) => {
    const actual = Object.entries(a).find(([k]) => k.startsWith('value'))?.[1];
    if (actual === undefined || expected === undefined) return false;
    if (typeof expected === 'object') {
      const e = expected as Coding;
      const eq = (actual as Coding).code === e.code && ((actual as Coding).system ?? e.system) === e.system;
      return w.operator === '!=' ? !eq : w.operator === '=' && eq;
    }
    switch (w.operator) {
      case '=': return actual === expected;
      case '!=': return actual !== expected;
      case '>': return (actual as number) > (expected as number);
      case '<': return (actual as number) < (expected as number);
      case '>=': return (actual as number) >= (expected as number);
      case '<=': return (actual as number) <= (expected as number);
      default: return false;
    }
  });
}

export function answersOf(items: QuestionnaireResponseItem[], linkId: string): QuestionnaireResponseItemAnswer[] {
  const out: QuestionnaireResponseItemAnswer[] = [];
  for (const item of items) {
    if (item.linkId === linkId) out.push(...(item.answer ?? []));
    if (item.item) out.push(...answersOf(item.item, linkId));
    for (const a of item.answer ?? []) if (a.item) out.push(...answersOf(a.item, linkId));
  }
  return out;
}
