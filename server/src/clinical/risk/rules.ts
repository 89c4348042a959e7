import type { Duration, PlanDefinition, PlanDefinitionAction, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../kernel/outcome.ts';
import type { ScoreResult } from '../scoring/index.ts';

/**
 * The crisis-risk rule set as data: a PlanDefinition (id `risk-rules`) per tenant, one action
 * per rule (https://hl7.org/fhir/R4/plandefinition.html#PlanDefinition.action):
 *   id             the rule id (recorded on the Task)
 *   title          what the rule detects
 *   description    the playbook text, copied into the Task's note
 *   priority       stat | urgent | asap | routine (R4 request-priority)
 *   timingDuration the acknowledgement deadline (UCUM s | min | h | d)
 *   condition      [{ kind: applicability, expression: { language: text/fhirpath, expression } }]
 * Conditions are FHIRPath (http://hl7.org/fhirpath/) evaluated with fhirpath.js over the scored
 * QuestionnaireResponse, with the environment variables %instrument (e.g. 'phq-9'),
 * %questionnaire (canonical url), %total, %band (severity band code), %risk (the scoring's risk
 * finding codes: 'suicide-risk', 'acute') and the function ordinal('<linkId>'): the ordinal
 * value of that item's answer as the server computed it from the Questionnaire (never the client's).
 */
export type Priority = 'stat' | 'urgent' | 'asap' | 'routine';
export const PRIORITIES: readonly Priority[] = ['routine', 'urgent', 'asap', 'stat'];
/** R4 request-priority is ordered routine < urgent < asap < stat (https://hl7.org/fhir/R4/valueset-request-priority.html). */
export const rank = (p: string | undefined): number => PRIORITIES.indexOf(p as Priority);

export interface RiskRule {
  id: string;
  title: string;
  playbook: string;
  priority: Priority;
  /** Acknowledgement deadline, ms after the Task is raised (and after each escalation). */
  deadlineMs: number;
  expression: string;
}

export interface RuleSet {
  /** `url|version` of the PlanDefinition, for Task.instantiatesCanonical. */
  canonical: string;
  rules: RiskRule[];
}

/** Defaults per priority when a rule names none (issue 8: stat 15 min, urgent 60 min). */
export const DEFAULT_DEADLINE_MS: Record<Priority, number> = { stat: 15 * 60_000, urgent: 60 * 60_000, asap: 4 * 3_600_000, routine: 24 * 3_600_000 };

const UNIT_MS: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export const SHIPPED_RULES: PlanDefinition = JSON.parse(readFileSync(join(import.meta.dirname, 'risk-rules.json'), 'utf8')) as PlanDefinition;

/**
 * The rules of a stored PlanDefinition, each checked; a broken action is an OperationOutcome
 * 400 naming `PlanDefinition.action[i]` (the write hook refuses such a rule set).
 */
export function parseRuleSet(plan: PlanDefinition): RuleSet {
  const rules: RiskRule[] = [];
  const ids = new Set<string>();
  (plan.action ?? []).forEach((action, i) => {
    const rule = parseRule(action, i);
    if (ids.has(rule.id)) fail('invalid', `Rule id '${rule.id}' appears twice`, `PlanDefinition.action[${i}].id`);
    ids.add(rule.id);
    rules.push(rule);
  });
  return { canonical: `${plan.url ?? ''}|${plan.version ?? ''}`, rules };
}

function parseRule(action: PlanDefinitionAction, i: number): RiskRule {
  const at = `PlanDefinition.action[${i}]`;
  if (!action.id || !/^[A-Za-z0-9\-.]{1,64}$/.test(action.id)) fail('invalid', `Rule ${i + 1} needs an id (1-64 of A-Z a-z 0-9 - .)`, `${at}.id`);
  const priority = (action.priority ?? '') as Priority;
  if (!PRIORITIES.includes(priority)) fail('invalid', `Rule '${action.id}': priority must be one of stat, urgent, asap, routine`, `${at}.priority`);
  const deadlineMs = action.timingDuration ? durationMs(action.timingDuration, `${at}.timingDuration`, action.id) : DEFAULT_DEADLINE_MS[priority];
  const conditions = (action.condition ?? []).filter((c) => c.kind === 'applicability');
  if (conditions.length !== 1) fail('invalid', `Rule '${action.id}' needs exactly one applicability condition`, `${at}.condition`);
  const expr = conditions[0].expression;
  if (expr?.language !== 'text/fhirpath' || !expr.expression?.trim()) {
    fail('invalid', `Rule '${action.id}': the condition must be a text/fhirpath expression`, `${at}.condition[0].expression`);
  }
  checkExpression(expr.expression, `${at}.condition[0].expression.expression`, action.id);
  return { id: action.id, title: action.title ?? action.id, playbook: action.description ?? '', priority, deadlineMs, expression: expr.expression };
}

function durationMs(d: Duration, at: string, id: string): number {
  const unit = d.code ?? d.unit ?? '';
  const factor = UNIT_MS[unit];
  if (!factor || typeof d.value !== 'number' || !(d.value > 0)) fail('invalid', `Rule '${id}': the deadline must be a positive duration in s, min, h or d`, at);
  return Math.round(d.value * factor);
}

/**
 * A condition must compile and evaluate to a boolean (or nothing) on a sample response with every
 * variable set: an unknown function or variable only shows at evaluation in fhirpath.js.
 */
function checkExpression(expression: string, at: string, id: string): void {
  let result: unknown[];
  try {
    result = evaluate(expression, { resourceType: 'QuestionnaireResponse', status: 'completed' } as QuestionnaireResponse, SAMPLE_ENV, new Map());
  } catch (err) {
    fail('invalid', `Rule '${id}': the condition is not valid FHIRPath here (${(err as Error).message.slice(0, 200)})`, at);
  }
  if (result.length > 1 || (result.length === 1 && typeof result[0] !== 'boolean')) {
    fail('invalid', `Rule '${id}': the condition must give true, false or nothing`, at);
  }
}

export interface RuleEnvironment {
  instrument: string;
  questionnaire: string;
  total: number | undefined;
  band: string | undefined;
  risk: string[];
}

const SAMPLE_ENV: RuleEnvironment = { instrument: 'phq-9', questionnaire: 'http://example.org', total: 0, band: 'minimal', risk: [] };

export function environmentOf(questionnaire: Questionnaire, score: ScoreResult): RuleEnvironment {
  return {
    instrument: score.instrument?.name ?? questionnaire.name ?? '',
    questionnaire: questionnaire.url ?? '',
    total: score.total,
    band: score.band?.code,
    risk: [...new Set(score.risks.map((r) => r.code))],
  };
}

export interface Evaluation {
  matched: RiskRule[];
  /** Rules that failed to evaluate (ids only: never an answer in a log). */
  failed: string[];
}

export function evaluateRules(set: RuleSet, response: QuestionnaireResponse, env: RuleEnvironment, ordinals: Map<string, number>): Evaluation {
  const out: Evaluation = { matched: [], failed: [] };
  for (const rule of set.rules) {
    try {
      const r = evaluate(rule.expression, response, env, ordinals);
      if (r.length === 1 && r[0] === true) out.matched.push(rule);
    } catch {
      out.failed.push(rule.id);
    }
  }
  return out;
}

/** linkIds a rule reads through ordinal('…'), for the Task's inputs. */
export function ruleItems(rule: RiskRule): string[] {
  return [...rule.expression.matchAll(/ordinal\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]);
}

const compiled = new Map<string, (resource: unknown, env: Record<string, unknown>) => unknown>();
let current: Map<string, number> = new Map();

/**
 * ordinal('<linkId>') reads the answers of the response being evaluated. fhirpath.js binds user
 * functions at compile time, so the compiled function reads the ordinals of the current call
 * (evaluation is synchronous: no other evaluation interleaves).
 */
const userInvocationTable = {
  ordinal: {
    fn: (_inputs: unknown[], linkId: string) => {
      const v = current.get(linkId);
      return v === undefined ? [] : [v];
    },
    arity: { 1: ['String'] },
  },
};

function evaluate(expression: string, response: QuestionnaireResponse, env: RuleEnvironment, ordinals: Map<string, number>): unknown[] {
  let fn = compiled.get(expression);
  if (!fn) {
    fn = fhirpath.compile(expression, r4, { userInvocationTable } as Parameters<typeof fhirpath.compile>[2]) as unknown as typeof fn & object;
    if (compiled.size > 500) compiled.clear();
    compiled.set(expression, fn);
  }
  current = ordinals;
  try {
    const vars: Record<string, unknown> = { instrument: env.instrument, questionnaire: env.questionnaire, band: env.band ?? [], total: env.total ?? [], risk: env.risk };
    return fn(response, vars) as unknown[];
  } finally {
    current = new Map();
  }
}
