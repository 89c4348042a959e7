import type { PlanDefinition, Task, TaskOutput } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import { RISK_OUTCOME_SYSTEM, RISK_RULES_ID, RISK_RULES_URL } from '../codes.ts';
import { parseRuleSet } from './rules.ts';
import { ACKNOWLEDGED, CLOSED, isRiskTask, isServerWork } from './task.ts';
import { lockTimer, syncTimer } from './timers.ts';

/**
 * Only humans acknowledge and close risk Tasks (issue 8: "software detects, routes and documents;
 * a human decides and closes"). What this hook enforces on every client write of a risk Task
 * (Task.code = risk-task#suicide-risk-follow-up); the server's own writes (raising, joining,
 * escalating) pass:
 *  - acknowledging (status accepted / in-progress, which stops escalation): a person's token
 *    (fhirUser Practitioner) with role clinician, supervisor or care-manager, else 403 — a system
 *    client, a patient or an app cannot silence a risk Task;
 *  - completed / cancelled: role clinician or supervisor (403), a `statusReason` (400
 *    `Task.statusReason`) and an `output` documenting the outcome (400 `Task.output`): type
 *    risk-outcome#contact-made-safety-plan | referred-988 | referred-emergency | unable-to-reach,
 *    with a value saying what was done (for unable-to-reach: the attempts);
 *  - a closed risk Task stays closed (its status cannot change; a new screen opens a new Task);
 *  - status only requested, received, ready, accepted, in-progress, completed or cancelled
 *    (on-hold, failed, rejected would silently stop escalation);
 *  - the owner cannot be removed, the deadline (restriction.period.end) is the server's, the code
 *    cannot be taken away, and a risk Task is never deleted.
 * The Task's escalation timer follows its status in the same transaction (./timers.ts).
 */
export const OUTCOMES: Record<string, string> = {
  'contact-made-safety-plan': 'Contact made; safety plan completed or updated',
  'referred-988': 'Referred to the 988 Suicide & Crisis Lifeline',
  'referred-emergency': 'Referred to emergency care',
  'unable-to-reach': 'Unable to reach the patient (attempts listed)',
};

const ALLOWED = new Set(['requested', 'received', 'ready', 'accepted', 'in-progress', 'completed', 'cancelled']);
const STAFF = new Set(['clinician', 'supervisor', 'care-manager']);
const CLOSERS = new Set(['clinician', 'supervisor']);

export const riskTaskHook: WriteHook = {
  name: 'risk-task',
  types: ['Task'],

  async beforeWrite(event: WriteEvent) {
    const before = event.before as Task | undefined;
    const after = event.after as Task | undefined;
    if (!isRiskTask(before) && !isRiskTask(after)) return undefined;
    if (before && event.method !== 'create') await lockTimer(event.repo, event.id);
    if (isServerWork(event.repo)) return undefined;
    checkClientWrite(event, before, after);
    return undefined;
  },

  async afterWrite(event: WriteEvent) {
    if (!isRiskTask(event.before as Task | undefined) && !isRiskTask(event.after as Task | undefined)) return;
    await syncTimer(event.repo, event.id, event.after as Task | undefined, event.method === 'create');
  },
};

function checkClientWrite(event: WriteEvent, before: Task | undefined, after: Task | undefined): void {
  if (event.method === 'delete' || !after) fail('method-not-allowed', 'A risk Task is never deleted: close it (completed or cancelled) with an outcome', 'Task');
  const ctx = event.repo.ctx.access.context;
  const person = Boolean(ctx.fhirUser?.startsWith('Practitioner/') || (ctx.userId && !ctx.fhirUser));
  const roles = new Set<string>(person ? (ctx.roles ?? []) : []);
  if (before && !isRiskTask(after)) fail('invalid', 'A risk Task keeps its code', 'Task.code');
  if (!ALLOWED.has(after.status)) {
    fail('invalid', `A risk Task's status is requested, received, ready, accepted, in-progress, completed or cancelled, not '${after.status}'`, 'Task.status');
  }
  if (before && CLOSED.has(before.status) && after.status !== before.status) {
    fail('invalid', 'A closed risk Task stays closed; a new positive screen opens a new one', 'Task.status');
  }
  if (!after.owner?.reference && !after.owner?.display) fail('invalid', 'A risk Task always has an owner', 'Task.owner');
  const deadline = after.restriction?.period?.end;
  if (before ? deadline !== before.restriction?.period?.end : !deadline) {
    fail('invalid', 'The acknowledgement deadline (Task.restriction.period.end) is set by the server from the risk rules', 'Task.restriction.period.end');
  }
  const acknowledged = (t: Task | undefined) => Boolean(t && (ACKNOWLEDGED.has(t.status) || CLOSED.has(t.status)));
  if (acknowledged(after) && !acknowledged(before) && ![...roles].some((r) => STAFF.has(r))) {
    fail('forbidden', 'Only a clinician, supervisor or care manager signed in as themselves acknowledges a risk Task (acknowledging stops its escalation)', 'Task.status');
  }
  if (CLOSED.has(after.status) && !(before && CLOSED.has(before.status))) {
    if (![...roles].some((r) => CLOSERS.has(r))) fail('forbidden', 'Only a clinician or supervisor closes a risk Task', 'Task.status');
    if (!after.statusReason?.text?.trim() && !after.statusReason?.coding?.some((c) => c.code)) {
      fail('invalid', `Closing a risk Task needs a statusReason`, 'Task.statusReason');
    }
    const documented = (after.output ?? []).some(documentsOutcome);
    if (!documented) {
      fail(
        'invalid',
        `Closing a risk Task needs an output documenting the outcome: type ${RISK_OUTCOME_SYSTEM}|${Object.keys(OUTCOMES).join('|')} with a value saying what was done (for unable-to-reach, the attempts)`,
        'Task.output'
      );
    }
  }
}

function documentsOutcome(o: TaskOutput): boolean {
  const typed = o.type?.coding?.some((c) => c.system === RISK_OUTCOME_SYSTEM && c.code && c.code in OUTCOMES);
  const text = o.valueString ?? o.valueMarkdown ?? o.valueAnnotation?.text ?? '';
  return Boolean(typed && (text.trim() || o.valueReference?.reference));
}

/**
 * The tenant's rule set is checked on every write (400 naming the action); it cannot be deleted
 * (a tenant that wants fewer rules removes actions), so positive screens are never left without rules.
 */
export const riskRulesHook: WriteHook = {
  name: 'risk-rules',
  types: ['PlanDefinition'],
  async beforeWrite(event: WriteEvent) {
    const after = event.after as PlanDefinition | undefined;
    if (event.id !== RISK_RULES_ID && after?.url !== RISK_RULES_URL) return undefined;
    if (event.method === 'delete' || !after) fail('method-not-allowed', 'The risk rule set cannot be deleted; change its actions instead', 'PlanDefinition');
    if (event.id !== RISK_RULES_ID) fail('invalid', `The risk rule set is PlanDefinition/${RISK_RULES_ID}`, 'PlanDefinition.id');
    if (after.url !== RISK_RULES_URL) fail('invalid', `PlanDefinition/${RISK_RULES_ID} keeps the url ${RISK_RULES_URL}`, 'PlanDefinition.url');
    parseRuleSet(after);
    return undefined;
  },
};
