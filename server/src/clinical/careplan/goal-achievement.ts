import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, Goal, GoalTarget, Observation, Resource } from '@medplum/fhirtypes';
import { log } from '../../log.ts';
import type { WriteHook } from '../../store/hooks.ts';
import type { Repository } from '../../store/repository.ts';
import { LOINC, OBSERVATION_CATEGORY } from '../codes.ts';
import { RELIABLE_CHANGE } from './reliable-change.ts';
import { systemRepoFor } from './system-repo.ts';

/**
 * Goal.achievementStatus (http://terminology.hl7.org/CodeSystem/goal-achievement) follows the
 * scored totals of the goal's patient and measure, as information for the clinician, who stays in
 * charge: the hook never touches Goal.lifecycleStatus nor the CarePlan.
 *
 * For each active Goal of the patient whose target.measure is the Observation's LOINC code:
 * - baseline = the earliest counted score on or after Goal.startDate (all scores if no start),
 *   latest = the most recent one (counted: status final, amended or corrected; codes.ts);
 * - achieved   when the latest value meets the target (detailQuantity with its comparator, or
 *              within detailRange);
 * - improving  / worsening when latest and baseline differ, in the goal's direction, by at least
 *              the instrument's reliable-change threshold (./reliable-change.ts, NHS Talking
 *              Therapies manual: PHQ-9 6, GAD-7 4);
 * - no-change  when the difference is smaller;
 * - in-progress with a single score, or for a measure without a published threshold.
 * Comparing last with first follows the manual's pre/post definition of reliable change.
 * achievementStatus.text says what the status rests on.
 */
const GOAL_ACHIEVEMENT = 'http://terminology.hl7.org/CodeSystem/goal-achievement';
const COUNTED = 'final,amended,corrected';
const DISPLAY: Record<string, string> = {
  achieved: 'Achieved',
  improving: 'Improving',
  worsening: 'Worsening',
  'no-change': 'No Change',
  'in-progress': 'In Progress',
};

export const goalAchievementHook: WriteHook = {
  name: 'goal-achievement',
  types: ['Observation'],
  async afterWrite({ repo, before, after }) {
    const keys = new Map<string, { patient: string; code: string }>();
    for (const r of [before, after]) {
      const k = scoreKey(r);
      if (k) keys.set(`${k.patient} ${k.code}`, k);
    }
    if (keys.size === 0) return;
    const sys = await systemRepoFor(repo);
    for (const { patient, code } of keys.values()) await refreshGoals(sys, patient, code);
    await sys.flush();
  },
};

/** The (patient, LOINC code) of a scored total, or undefined for any other Observation. */
function scoreKey(r: Resource | undefined): { patient: string; code: string } | undefined {
  if (r?.resourceType !== 'Observation') return undefined;
  const o = r as Observation;
  const patient = o.subject?.reference;
  const code = o.code?.coding?.find((c) => c.system === LOINC && c.code)?.code;
  const survey = o.category?.some((c) => c.coding?.some((x) => x.system === OBSERVATION_CATEGORY && x.code === 'survey'));
  if (!patient?.startsWith('Patient/') || !code || !survey || typeof o.valueQuantity?.value !== 'number') return undefined;
  return { patient, code };
}

export async function refreshGoals(repo: Repository, patient: string, code: string): Promise<void> {
  const goals = await repo.searchParams('Goal', [['subject', patient], ['lifecycle-status', 'active'], ['_count', '100']]);
  for (const e of goals.entry ?? []) {
    const goal = e.resource as Goal;
    const target = goal.target?.find((t) => t.measure?.coding?.some((c) => c.system === LOINC && c.code === code));
    if (!target) continue;
    const status = await assess(repo, goal, target, patient, code);
    if (!status) continue;
    const current = goal.achievementStatus;
    if (current?.coding?.[0]?.code === status.coding?.[0]?.code && current?.text === status.text) continue;
    try {
      await repo.updateResource<Goal>({ ...goal, achievementStatus: status });
    } catch (err) {
      // A stored Goal that no longer passes validation (e.g. written before its profile tightened)
      // must not make the score's write fail: the score is the clinical fact, the status a summary.
      // Validation fails before any SQL runs, so the transaction is still usable.
      if (!(err instanceof OperationOutcomeError && err.outcome.id === 'invalid')) throw err;
      log.error('goal achievement not updated: the goal does not validate', { goal: goal.id });
    }
  }
}

async function assess(repo: Repository, goal: Goal, target: GoalTarget, patient: string, code: string): Promise<Goal['achievementStatus']> {
  const base: [string, string][] = [['subject', patient], ['code', `${LOINC}|${code}`], ['status', COUNTED], ['_count', '1'], ['_total', 'none']];
  const start = goal.startDate ? [['date', `ge${goal.startDate}`] as [string, string]] : [];
  const latest = first(await repo.searchParams('Observation', [...base, ...start, ['_sort', '-date']]));
  if (!latest) return undefined;
  const baseline = first(await repo.searchParams('Observation', [...base, ...start, ['_sort', 'date']]));
  const value = latest.valueQuantity?.value as number;
  const when = latest.effectiveDateTime ?? latest.issued ?? '';
  const threshold = RELIABLE_CHANGE[`${LOINC}|${code}`];
  const label = threshold?.name ?? `LOINC ${code}`;
  if (meets(target, value)) return status('achieved', `${label} ${value} on ${when} meets the target`);
  const lowerIsBetter = direction(target) === 'down';
  if (!baseline || baseline.id === latest.id || !threshold) {
    return status('in-progress', `${label} ${value} on ${when}; ${threshold ? 'no earlier score to compare with' : 'no published reliable-change threshold for this measure'}`);
  }
  const from = baseline.valueQuantity?.value as number;
  const better = lowerIsBetter ? from - value : value - from;
  const basis = `${label} ${value} on ${when}, first ${from}; reliable change is ${threshold.points} points (NHS Talking Therapies manual)`;
  if (better >= threshold.points) return status('improving', basis);
  if (-better >= threshold.points) return status('worsening', basis);
  return status('no-change', basis);
}

function first(b: Bundle): Observation | undefined {
  return b.entry?.[0]?.resource as Observation | undefined;
}

function status(code: string, text: string): Goal['achievementStatus'] {
  return { coding: [{ system: GOAL_ACHIEVEMENT, code, display: DISPLAY[code] }], text };
}

/** Whether a value meets the target: detailQuantity with its comparator (none = equal), or within detailRange. */
export function meets(target: GoalTarget, value: number): boolean {
  const q = target.detailQuantity;
  if (q?.value !== undefined) {
    switch (q.comparator) {
      case '<': return value < q.value;
      case '<=': return value <= q.value;
      case '>': return value > q.value;
      case '>=': return value >= q.value;
      default: return value === q.value;
    }
  }
  const r = target.detailRange;
  if (r?.low?.value !== undefined || r?.high?.value !== undefined) {
    return (r.low?.value === undefined || value >= r.low.value) && (r.high?.value === undefined || value <= r.high.value);
  }
  return false;
}

/** Which way is better: a '<' / '<=' target or a range with only a high bound means lower scores are better. */
function direction(target: GoalTarget): 'down' | 'up' {
  const c = target.detailQuantity?.comparator;
  if (c === '>' || c === '>=') return 'up';
  if (!target.detailQuantity && target.detailRange?.low && !target.detailRange.high) return 'up';
  return 'down';
}
