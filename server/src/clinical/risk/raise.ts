import type {
  Bundle,
  CodeableConcept,
  Communication,
  Flag,
  PlanDefinition,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Practitioner,
  Reference,
  Task,
  TaskInput,
} from '@medplum/fhirtypes';
import { log } from '../../log.ts';
import type { Statement } from '../../db/database.ts';
import type { Repository } from '../../store/repository.ts';
import type { SearchRequest } from '../../store/search/batch.ts';
import {
  COMMUNICATION_CATEGORY_SYSTEM,
  FLAG_CATEGORY,
  RISK_ESCALATION_SYSTEM,
  RISK_FLAG_SYSTEM,
  RISK_RULES_ID,
  RISK_RULE_SYSTEM,
  RISK_TASK_CODE,
  RISK_TASK_SYSTEM,
  SCORE_UNIT,
  SEVERITY_SYSTEM,
  profileUrl,
} from '../codes.ts';
import type { ScoreResult } from '../scoring/index.ts';
import { CRISIS_RESOURCES_SEARCH, crisisResourcesIn, patientCommunication } from './crisis-resources.ts';
import { firstOwner, holdersIn, holdersSearch } from './rota.ts';
import { DEFAULT_DEADLINE_MS, type Priority, type RiskRule, type RuleSet, environmentOf, evaluateRules, parseRuleSet, rank, ruleItems } from './rules.ts';
import { OPEN_STATUSES, WAITING, riskNow } from './task.ts';

/**
 * A scored response meets the tenant's rules (issue 8 §1). Called by the scoring hook with its
 * server repository (`serverRepoFor`), in the response's transaction: this reads what the
 * follow-up depends on and resolves to its writes (undefined: nothing to raise), which the hook
 * runs beside the response's Observations — the risk Task (or the patient's open one, joined),
 * the safety Flag, the patient's crisis-resources Communication and the owner's notice, on the
 * caller's connection, so they commit or roll back with the response. An amended response that is no longer positive
 * changes nothing: only a person closes a risk Task.
 *
 * Never a silent failure: when the response carries a suicide-risk finding (scoring/definitions.ts)
 * and the rules could not be read or evaluated, or none matched, a Task is still raised at
 * priority stat with a note saying why.
 */
export async function evaluateRisk(
  server: Repository,
  questionnaire: Questionnaire,
  score: ScoreResult,
  response: QuestionnaireResponse & { id: string },
  options: { created: boolean }
): Promise<RiskWrites | undefined> {
  const patient = response.subject?.reference;
  const finding = score.risks.some((r) => r.code === 'suicide-risk');
  if (!patient?.startsWith('Patient/')) {
    if (finding) log.error('risk: positive screen without a patient subject; no Task raised', { tenant: server.ctx.tenant });
    return undefined;
  }
  const { set, planVersion, problem } = await loadRules(server);
  const evaluation = set ? evaluateRules(set, response, environmentOf(questionnaire, score), score.ordinals) : { matched: [], failed: [] };
  const triggers: Trigger[] = evaluation.matched.map((rule) => ({ rule, inputs: ruleInputs(rule, questionnaire, score, response) }));
  const notes: string[] = [];
  if (evaluation.failed.length) {
    log.error('risk: rules failed to evaluate', { tenant: server.ctx.tenant, rules: evaluation.failed });
    notes.push(`Rules that could not be evaluated for this screen: ${evaluation.failed.join(', ')}. Check PlanDefinition/${RISK_RULES_ID}.`);
  }
  if (finding && triggers.length === 0) {
    const why = problem ?? (evaluation.failed.length ? 'its rules could not be evaluated' : 'no rule of the tenant\'s rule set matched');
    triggers.push({ rule: fallbackRule(why, set), inputs: findingInputs(questionnaire, score, response) });
    notes.push(`Raised at priority stat although ${why}: the screen carries a suicide-risk finding, and a risk is never dropped.`);
  }
  if (triggers.length === 0) return undefined;

  const now = riskNow();
  const canonical = set?.canonical ?? '';
  const screen: TaskInput = {
    type: { coding: [{ system: RISK_TASK_SYSTEM, code: 'screen', display: 'Screen' }], text: `${score.instrument?.title ?? questionnaire.title ?? 'Screen'} response` },
    valueReference: { reference: `QuestionnaireResponse/${response.id}` },
  };
  // One follow-up at a time per patient, across every process and node: two screens of one
  // patient committed at once would each find no open Task and raise one each (two-node test,
  // issue 12). The lock is held to commit, so the second reads the first's Task and joins it.
  // Everything the follow-up depends on is read after the lock, in the same round trip (each
  // statement of a batch has its own snapshot: the reads see what the lock waited for), then
  // written in one go at the flush.
  const reads: SearchRequest[] = [openTaskSearch(patient), holdersSearch('on-call'), activeFlagSearch(patient), CRISIS_RESOURCES_SEARCH];
  // The patient's crisis resources, once per screen (an amended response that stays positive
  // reuses it; a response created just now has none yet).
  if (!options.created) {
    reads.push([
      'Communication',
      [
        ['based-on', `QuestionnaireResponse/${response.id}`],
        ['category', `${COMMUNICATION_CATEGORY_SYSTEM}|crisis-resources`],
        ['_count', '1'],
      ],
    ]);
  }
  const [tasks, onCall, flags, crisis, existing] = await server.searchBatch(reads, [lockPatient(server, patient)]);
  const open = openTaskIn(tasks);
  const owner = open ? undefined : await firstOwner(server, patient, now, holdersIn(onCall, 'on-call', now));
  const flagged = hasActiveFlag(flags);
  const resources = existing?.entry?.length ? undefined : crisisResourcesIn(crisis);
  return async () => {
    if (open) {
      await join(server, open, triggers, screen, notes, now, canonical, planVersion);
    } else {
      await raise(server, owner as Owner, patient, response.id, triggers, screen, notes, now, canonical, planVersion);
    }
    if (!flagged) await createFlag(server, patient, now);
    if (resources) await server.createResource<Communication>(patientCommunication(patient, response.id, resources, now.toISOString()));
  };
}

/** The writes of a positive screen's follow-up, once its reads are done (see `evaluateRisk`). */
export type RiskWrites = () => Promise<void>;
type Owner = Awaited<ReturnType<typeof firstOwner>>;

interface Trigger {
  rule: RiskRule;
  inputs: TaskInput[];
}

async function loadRules(repo: Repository): Promise<{ set?: RuleSet; planVersion?: string; problem?: string }> {
  let plan: PlanDefinition;
  try {
    plan = await repo.readResource<PlanDefinition>('PlanDefinition', RISK_RULES_ID);
  } catch {
    log.error('risk: the tenant has no readable rule set', { tenant: repo.ctx.tenant });
    return { problem: `the clinic has no rule set (PlanDefinition/${RISK_RULES_ID})` };
  }
  try {
    return { set: parsedRules(repo.ctx.tenant, plan), planVersion: plan.meta?.versionId };
  } catch {
    log.error('risk: the tenant rule set is invalid', { tenant: repo.ctx.tenant });
    return { problem: `the clinic's rule set (PlanDefinition/${RISK_RULES_ID}) is invalid`, planVersion: plan.meta?.versionId };
  }
}

/**
 * Parsed rule sets by tenant and stored version: every positive screen reads the rule set (a
 * tenant's change applies to the next screen, in every process) but parses it only once per version.
 */
const parsedSets = new Map<string, { version: string; set: RuleSet }>();
function parsedRules(tenant: string, plan: PlanDefinition): RuleSet {
  const version = `${plan.meta?.versionId ?? ''}|${plan.meta?.lastUpdated ?? ''}`;
  const hit = parsedSets.get(tenant);
  if (hit?.version === version && plan.meta?.versionId) return hit.set;
  const set = parseRuleSet(plan);
  if (parsedSets.size > 1000) parsedSets.clear();
  parsedSets.set(tenant, { version, set });
  return set;
}

function fallbackRule(why: string, set: RuleSet | undefined): RiskRule {
  const stat = set?.rules.filter((r) => r.priority === 'stat').map((r) => r.deadlineMs) ?? [];
  return {
    id: 'suicide-risk-finding',
    title: 'Suicide-risk finding not covered by a rule',
    playbook: `The screen carries a suicide-risk finding but ${why}. Assess suicide risk now (ideation, plan, intent, means), safety plan, and refer to 988 or emergency care when safety cannot be confirmed. Then review the clinic's risk rules.`,
    priority: 'stat',
    deadlineMs: stat.length ? Math.min(...stat) : DEFAULT_DEADLINE_MS.stat,
    expression: '',
  };
}

/**
 * Transaction-scoped advisory lock on (tenant, patient); class 4245 (audit/hash-chain.ts uses
 * 4243). A raw statement, first in the batch of the follow-up's reads: no buffered write is
 * flushed for it. A hash collision only makes two patients' screens wait for each other.
 */
function lockPatient(repo: Repository, patient: string): Statement {
  return { sql: 'SELECT pg_advisory_xact_lock(4245, hashtext($1))', params: [`${repo.ctx.tenant} ${patient}`] };
}

function openTaskSearch(patient: string): SearchRequest {
  return [
    'Task',
    [
      ['subject', patient],
      ['code', `${RISK_TASK_SYSTEM}|${RISK_TASK_CODE}`],
      ['status', OPEN_STATUSES.join(',')],
      ['_count', '10'],
    ],
  ];
}

function openTaskIn(bundle: Bundle): Task | undefined {
  const tasks = (bundle.entry ?? []).map((e) => e.resource as Task).sort((a, b) => (a.authoredOn ?? '').localeCompare(b.authoredOn ?? ''));
  return tasks[0];
}

function highest(triggers: Trigger[]): Priority {
  return triggers.reduce<Priority>((p, t) => (rank(t.rule.priority) > rank(p) ? t.rule.priority : p), 'routine');
}

function reasonCode(triggers: Trigger[], canonical: string, planVersion: string | undefined, previous?: CodeableConcept): CodeableConcept {
  const coding = [...(previous?.coding ?? [])];
  for (const t of triggers) if (!coding.some((c) => c.code === t.rule.id)) coding.push({ system: RISK_RULE_SYSTEM, code: t.rule.id, display: t.rule.title });
  const set = canonical ? ` Rule set ${canonical}${planVersion ? ` (PlanDefinition/${RISK_RULES_ID}/_history/${planVersion})` : ''}.` : '';
  return { coding, text: `Positive screen: ${coding.map((c) => c.display ?? c.code).join('; ')}.${set}` };
}

async function raise(
  repo: Repository,
  owner: Owner,
  patient: string,
  responseId: string,
  triggers: Trigger[],
  screen: TaskInput,
  notes: string[],
  now: Date,
  canonical: string,
  planVersion: string | undefined
): Promise<Task> {
  const priority = highest(triggers);
  const deadline = new Date(now.getTime() + Math.min(...triggers.map((t) => t.rule.deadlineMs)));
  const time = now.toISOString();
  const task = await repo.createResource<Task>({
    resourceType: 'Task',
    meta: { profile: [profileUrl('risk-task')] },
    ...(canonical ? { instantiatesCanonical: canonical } : {}),
    status: 'requested',
    businessStatus: { coding: [{ system: RISK_ESCALATION_SYSTEM, code: 'assigned', display: 'Assigned' }], text: 'Awaiting acknowledgement' },
    intent: 'order',
    priority,
    code: { coding: [{ system: RISK_TASK_SYSTEM, code: RISK_TASK_CODE, display: 'Suicide-risk follow-up' }], text: 'Suicide-risk follow-up' },
    description: 'Follow up a positive suicide-risk screen: accept this Task, contact the patient, and close it with the outcome.',
    focus: { reference: `QuestionnaireResponse/${responseId}` },
    for: { reference: patient },
    authoredOn: time,
    lastModified: time,
    owner: owner.person,
    reasonCode: reasonCode(triggers, canonical, planVersion),
    restriction: { period: { start: time, end: deadline.toISOString() } },
    input: [screen, ...triggers.flatMap((t) => t.inputs)],
    note: [owner.why, ...notes, ...triggers.map(playbook)].map((text) => ({ time, text })),
  });
  await notifyOwner(repo, task, owner.person, `A risk follow-up Task (priority ${priority}) is assigned to you: ${triggers.map((t) => t.rule.title).join('; ')}. Accept it by ${deadline.toISOString()} or it escalates.`, time);
  return task;
}

async function join(
  repo: Repository,
  open: Task,
  triggers: Trigger[],
  screen: TaskInput,
  notes: string[],
  now: Date,
  canonical: string,
  planVersion: string | undefined
): Promise<Task> {
  const seen = (open.input ?? []).some((i) => i.valueReference?.reference === screen.valueReference?.reference);
  const known = new Set(open.reasonCode?.coding?.map((c) => c.code));
  const fresh = triggers.filter((t) => !seen || !known.has(t.rule.id));
  if (fresh.length === 0) return open;
  const time = now.toISOString();
  const priority = rank(highest(fresh)) > rank(open.priority) ? highest(fresh) : (open.priority as Priority);
  const raised = priority !== open.priority;
  let restriction = open.restriction;
  const end = open.restriction?.period?.end;
  const sooner = new Date(now.getTime() + Math.min(...fresh.map((t) => t.rule.deadlineMs)));
  // A waiting Task's deadline only ever comes nearer; an accepted one is already in a person's hands.
  if (WAITING.has(open.status) && (!end || sooner < new Date(end))) restriction = { ...open.restriction, period: { start: time, end: sooner.toISOString() } };
  const joined = `A later positive screen joined this Task${raised ? `; priority raised from ${open.priority} to ${priority}` : ''}: ${fresh.map((t) => t.rule.title).join('; ')}.`;
  const task = await repo.updateResource<Task>({
    ...open,
    priority,
    lastModified: time,
    reasonCode: reasonCode(fresh, canonical, planVersion, open.reasonCode),
    restriction,
    input: [...(open.input ?? []), ...(seen ? [] : [screen]), ...fresh.flatMap((t) => t.inputs)],
    note: [...(open.note ?? []), ...[joined, ...notes, ...fresh.map(playbook)].map((text) => ({ time, text }))],
  });
  if (raised && open.owner) await notifyOwner(repo, task, open.owner as Reference<Practitioner>, `${joined} Deadline ${restriction?.period?.end ?? 'unchanged'}.`, time);
  return task;
}

function playbook(t: Trigger): string {
  return `Playbook for ${t.rule.id} (${t.rule.priority}): ${t.rule.playbook}`;
}

/** A notice to a staff member about a risk Task: recipient and Task only (not in the patient's compartment). */
export function staffCommunication(task: Task, to: Reference<Practitioner>, category: 'risk-task-assigned' | 'risk-escalation', text: string, sent: string): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: category, display: category === 'risk-escalation' ? 'Risk Task escalation' : 'Risk Task assigned' }] }],
    priority: task.priority === 'stat' ? 'stat' : 'urgent',
    recipient: [to],
    about: [{ reference: `Task/${task.id}` }],
    sent,
    payload: [{ contentString: text }],
  };
}

async function notifyOwner(repo: Repository, task: Task, to: Reference<Practitioner>, text: string, sent: string): Promise<void> {
  if (!to.reference) return;
  await repo.createResource<Communication>(staffCommunication(task, to, 'risk-task-assigned', text, sent));
}

/** One active safety Flag per patient while risk is being followed up; a person ends it. */
function activeFlagSearch(patient: string): SearchRequest {
  return ['Flag', [['patient', patient], ['_count', '100']]];
}

function hasActiveFlag(bundle: Bundle): boolean {
  return (bundle.entry ?? [])
    .map((e) => e.resource as Flag)
    .some((f) => f.status === 'active' && f.code?.coding?.some((c) => c.system === RISK_FLAG_SYSTEM && c.code === 'suicide-risk'));
}

async function createFlag(repo: Repository, patient: string, now: Date): Promise<void> {
  await repo.createResource<Flag>({
    resourceType: 'Flag',
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY, code: 'safety', display: 'Safety' }] }],
    code: { coding: [{ system: RISK_FLAG_SYSTEM, code: 'suicide-risk', display: 'Suicide risk' }], text: 'Suicide risk: positive screen, follow-up open' },
    subject: { reference: patient },
    period: { start: now.toISOString() },
  });
}

// --- the triggering answers, as Task.input ------------------------------------------------------

function findItem(items: QuestionnaireItem[] | undefined, linkId: string): QuestionnaireItem | undefined {
  for (const i of items ?? []) {
    if (i.linkId === linkId) return i;
    const sub = findItem(i.item, linkId);
    if (sub) return sub;
  }
  return undefined;
}

function findAnswer(items: QuestionnaireResponseItem[] | undefined, linkId: string): QuestionnaireResponseItem | undefined {
  for (const i of items ?? []) {
    if (i.linkId === linkId) return i;
    const sub = findAnswer(i.item, linkId) ?? findAnswer(i.answer?.flatMap((a) => a.item ?? []), linkId);
    if (sub) return sub;
  }
  return undefined;
}

function itemInput(rule: { id: string; title: string }, linkId: string, questionnaire: Questionnaire, response: QuestionnaireResponse): TaskInput | undefined {
  const answer = findAnswer(response.item, linkId)?.answer?.[0];
  if (!answer) return undefined;
  const q = findItem(questionnaire.item, linkId);
  const type: CodeableConcept = {
    coding: [...(q?.code ?? []).slice(0, 1), { system: RISK_RULE_SYSTEM, code: rule.id, display: rule.title }],
    text: `${rule.id}: ${q?.text ?? linkId}`,
  };
  if (answer.valueCoding) return { type, valueCoding: answer.valueCoding };
  if (answer.valueInteger !== undefined) return { type, valueInteger: answer.valueInteger };
  if (answer.valueDecimal !== undefined) return { type, valueDecimal: answer.valueDecimal };
  if (answer.valueBoolean !== undefined) return { type, valueBoolean: answer.valueBoolean };
  if (answer.valueString !== undefined) return { type, valueString: answer.valueString };
  return undefined;
}

function ruleInputs(rule: RiskRule, questionnaire: Questionnaire, score: ScoreResult, response: QuestionnaireResponse): TaskInput[] {
  const out: TaskInput[] = [];
  for (const linkId of ruleItems(rule)) {
    const input = itemInput(rule, linkId, questionnaire, response);
    if (input) out.push(input);
  }
  const ruleCoding = { system: RISK_RULE_SYSTEM, code: rule.id, display: rule.title };
  if (rule.expression.includes('%total') && score.total !== undefined && score.instrument) {
    out.push({ type: { coding: [score.instrument.totalCode, ruleCoding], text: `${rule.id}: ${score.instrument.title} total` }, valueQuantity: { value: score.total, ...SCORE_UNIT } });
  }
  if (rule.expression.includes('%band') && score.band) {
    out.push({ type: { coding: [ruleCoding], text: `${rule.id}: result` }, valueCoding: { system: SEVERITY_SYSTEM, code: score.band.code, display: score.band.display } });
  }
  if (out.length === 0) out.push(...findingInputs(questionnaire, score, response, rule));
  if (out.length === 0) out.push({ type: { coding: [ruleCoding], text: rule.id }, valueString: rule.title });
  return out;
}

/** The items the scoring flagged (scoring/definitions.ts risks), for a rule that names none. */
function findingInputs(questionnaire: Questionnaire, score: ScoreResult, response: QuestionnaireResponse, rule?: RiskRule): TaskInput[] {
  const r = rule ?? { id: 'suicide-risk-finding', title: 'Suicide-risk finding' };
  const out: TaskInput[] = [];
  for (const finding of score.risks) {
    const input = finding.linkId ? itemInput(r, finding.linkId, questionnaire, response) : undefined;
    out.push(input ?? { type: { coding: [{ system: RISK_RULE_SYSTEM, code: r.id, display: r.title }], text: r.id }, valueString: finding.display });
  }
  return out;
}
