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

/**
 * The form's logic, kept apart from its rendering: answers by linkId, R4 enableWhen, the
 * response items in the Questionnaire's order, and which item an OperationOutcome expression
 * (`QuestionnaireResponse.item[3].answer[0]`, `...item.where(linkId='x')`) names.
 * Nothing here scores: calculated items (SDC calculatedExpression, e.g. the total) are neither
 * shown nor sent; the server computes them.
 */
export type Answers = Record<string, QuestionnaireResponseItemAnswer[]>;

const CALCULATED = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression';
const HIDDEN = 'http://hl7.org/fhir/StructureDefinition/questionnaire-hidden';

export function isCalculated(item: QuestionnaireItem): boolean {
  return Boolean(item.extension?.some((e) => e.url === CALCULATED));
}

/** Items a person answers or reads (not calculated, not hidden, not read-only values). */
export function isShown(item: QuestionnaireItem): boolean {
  return !isCalculated(item) && !item.readOnly && !item.extension?.some((e) => e.url === HIDDEN && e.valueBoolean);
}

/** The value of an answer or option (valueCoding, valueString, valueInteger …). */
export function valueOf(x: object): [string, unknown] | undefined {
  return Object.entries(x).find(([k]) => k.startsWith('value'));
}

export function sameValue(a: object, b: object): boolean {
  const va = valueOf(a);
  const vb = valueOf(b);
  if (!va || !vb || va[0] !== vb[0]) return false;
  if (va[0] === 'valueCoding') {
    const ca = va[1] as Coding;
    const cb = vb[1] as Coding;
    return ca.code === cb.code && (ca.system ?? cb.system) === cb.system;
  }
  return JSON.stringify(va[1]) === JSON.stringify(vb[1]);
}

/** The answer an option stands for: its value only (the display helps a reader of the raw response). */
export function answerFromOption(o: QuestionnaireItemAnswerOption): QuestionnaireResponseItemAnswer {
  const v = valueOf(o);
  if (!v) return {};
  if (v[0] === 'valueCoding') {
    const c = v[1] as Coding;
    return { valueCoding: { system: c.system, code: c.code, display: c.display } };
  }
  return { [v[0]]: v[1] } as QuestionnaireResponseItemAnswer;
}

export function optionLabel(o: QuestionnaireItemAnswerOption): string {
  const v = valueOf(o);
  if (!v) return '';
  if (v[0] === 'valueCoding') {
    const c = v[1] as Coding;
    return c.display ?? c.code ?? '';
  }
  return String(v[1]);
}

function conditionHolds(answers: Answers, w: QuestionnaireItemEnableWhen): boolean {
  const given = answers[w.question] ?? [];
  if (w.operator === 'exists') return (given.length > 0) === (w.answerBoolean ?? true);
  const expected = valueOf(w);
  if (!expected) return false;
  return given.some((a) => {
    const actual = valueOf(a)?.[1];
    if (actual === undefined) return false;
    if (typeof expected[1] === 'object') {
      const e = expected[1] as Coding;
      const c = actual as Coding;
      const eq = c.code === e.code && (c.system ?? e.system) === e.system;
      return w.operator === '!=' ? !eq : w.operator === '=' && eq;
    }
    const x = actual as number;
    const y = expected[1] as number;
    switch (w.operator) {
      case '=':
        return x === y;
      case '!=':
        return x !== y;
      case '>':
        return x > y;
      case '<':
        return x < y;
      case '>=':
        return x >= y;
      case '<=':
        return x <= y;
      default:
        return false;
    }
  });
}

/** R4 enableWhen with enableBehavior (default all); an item inside a disabled group is disabled. */
export function isEnabled(item: QuestionnaireItem, answers: Answers): boolean {
  if (!item.enableWhen?.length) return true;
  const results = item.enableWhen.map((w) => conditionHolds(answers, w));
  return item.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
}

/** Answers of a saved response, by linkId (to resume a draft). */
export function answersFrom(response: QuestionnaireResponse | undefined): Answers {
  const out: Answers = {};
  const visit = (items: QuestionnaireResponseItem[] | undefined) => {
    for (const i of items ?? []) {
      if (i.answer?.length) out[i.linkId] = i.answer.map((a) => ({ ...a, item: undefined }));
      visit(i.item);
      for (const a of i.answer ?? []) visit(a.item);
    }
  };
  visit(response?.item);
  return out;
}

/**
 * Response items in the Questionnaire's order: enabled, shown, answered questions, and groups
 * holding any. `paths` receives each item's FHIRPath (`QuestionnaireResponse.item[2]`) → linkId,
 * so a refusal naming a path can be shown next to that question.
 */
export function responseItems(items: QuestionnaireItem[] | undefined, answers: Answers, paths?: Map<string, string>, at = 'QuestionnaireResponse'): QuestionnaireResponseItem[] {
  const out: QuestionnaireResponseItem[] = [];
  for (const q of items ?? []) {
    if (!isShown(q) || !isEnabled(q, answers)) continue;
    const path = `${at}.item[${out.length}]`;
    if (q.type === 'group') {
      const children = responseItems(q.item, answers, paths, path);
      if (children.length) {
        paths?.set(path, q.linkId);
        out.push({ linkId: q.linkId, ...(q.text ? { text: q.text } : {}), item: children });
      }
      continue;
    }
    if (q.type === 'display') continue;
    const given = (answers[q.linkId] ?? []).filter((a) => valueOf(a) !== undefined && valueOf(a)?.[1] !== '');
    if (!given.length) continue;
    paths?.set(path, q.linkId);
    out.push({ linkId: q.linkId, ...(q.text ? { text: q.text } : {}), answer: given });
  }
  return out;
}

/** The linkId an OperationOutcome expression names, if any. */
export function linkIdOf(expression: string | undefined, paths: Map<string, string>): string | undefined {
  if (!expression) return undefined;
  const where = /where\(linkId\s*=\s*'([^']+)'\)/.exec(expression);
  if (where) return where[1];
  let best: string | undefined;
  for (const [path, linkId] of paths) {
    if ((expression === path || expression.startsWith(`${path}.`)) && (!best || path.length > best.length)) best = path;
  }
  return best ? paths.get(best) : undefined;
}

/** Every question of the form, flattened (for labels in an error summary). */
export function allItems(items: QuestionnaireItem[] | undefined): QuestionnaireItem[] {
  return (items ?? []).flatMap((i) => [i, ...allItems(i.item)]);
}

/** The plain words for a server refusal about one question. */
export function plainIssue(message: string): string {
  if (/^Required item .* (is missing|has no answer)/.test(message)) return 'This question needs an answer.';
  if (/not one of its answer options/.test(message)) return 'Please choose one of the listed answers.';
  if (/not enabled/.test(message)) return 'This question does not apply given your other answers; clear it and submit again.';
  if (/does not repeat/.test(message)) return 'Please choose only one answer.';
  if (/needs an answer of/.test(message)) return 'This answer is not in the expected form.';
  return message;
}

/** `url|version` of a Questionnaire: how our server names an instrument. */
export const canonicalOf = (q: Questionnaire): string => (q.version ? `${q.url}|${q.version}` : (q.url ?? ''));

/** Same instrument: equal canonicals, or equal urls when either names no version (as the server matches assignments). */
export function sameCanonical(a: string, b: string): boolean {
  if (a === b) return true;
  const [ua, va] = a.split('|');
  const [ub, vb] = b.split('|');
  return ua === ub && (!va || !vb);
}
