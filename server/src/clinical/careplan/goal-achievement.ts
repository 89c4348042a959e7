import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, Goal, GoalTarget, Observation, Resource } from '@medplum/fhirtypes';
import type { Statement } from '../../db/database.ts';
import { log } from '../../log.ts';
import { dateRange } from '../../store/date-range.ts';
import { pgInstant } from '../../store/search/parse-value.ts';
import type { WriteHook } from '../../store/hooks.ts';
import type { Repository } from '../../store/repository.ts';
import { LOINC, OBSERVATION_CATEGORY } from '../codes.ts';
import { RELIABLE_CHANGE } from './reliable-change.ts';

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
    // Most scores concern no goal: find that out without flushing the caller's buffered creates
    // (a response's ten Observations then stay one statement) and without a full search.
    const todo: { patient: string; code: string; goals: Goal[] }[] = [];
    for (const { patient, code } of keys.values()) {
      const goals = (await activeGoals(repo, patient)).filter((g) => targetFor(g, code));
      if (goals.length) todo.push({ patient, code, goals });
    }
    if (todo.length === 0) return;
    const sys = await repo.asServer({ reason: 'goal achievement' });
    for (const { patient, code, goals } of todo) await refreshGoals(sys, patient, code, goals);
    await sys.settle();
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

function targetFor(goal: Goal, code: string): GoalTarget | undefined {
  return goal.target?.find((t) => t.measure?.coding?.some((c) => c.system === LOINC && c.code === code));
}

/** Re-assesses the patient's active goals on this measure (`goals`: those already read, if any). */
export async function refreshGoals(repo: Repository, patient: string, code: string, goals?: Goal[]): Promise<void> {
  for (const goal of goals ?? (await activeGoals(repo, patient))) {
    const target = targetFor(goal, code);
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

/**
 * The patient's active Goals (as `Goal?subject=<patient>&lifecycle-status=active&_count=100`, in
 * its order), read straight from the index tables in one statement: the hook runs for every
 * scored Observation (a PHQ-9 response writes ten), mostly for patients without goals, and the
 * full search (parsing, access composition, paging, bundle) cost ~4 ms each time. No access
 * predicate: the hook decides tenant-wide, as its tenant-wide repository (Repository.asServer) does for the updates it makes.
 */
async function activeGoals(repo: Repository, patient: string): Promise<Goal[]> {
  const { sql, params } = activeGoalsStatement(repo.ctx.tenant, patient);
  const rows = await repo.aggregateOver<{ content: string }>(['Goal'], sql, params as unknown[]);
  return rows.map((r) => JSON.parse(r.content) as Goal);
}

/**
 * The statement of `activeGoals`: the scoring hook sends it ahead with a response's other reads
 * (Repository.readAhead), and the read after the total score is stored is answered from there.
 */
export function activeGoalsStatement(tenant: string, patient: string): Statement {
  const [type, id] = patient.split('/');
  return {
    sql: `SELECT r.content FROM resource r
     WHERE r.tenant = $1 AND r.type = 'Goal' AND NOT r.deleted
       AND r.id IN (SELECT s.rid FROM idx_reference s WHERE s.tenant = $1 AND s.rtype = 'Goal' AND s.param = 'subject' AND s.target_id = $3 AND s.target_type = $2)
       AND r.id IN (SELECT l.rid FROM idx_token l WHERE l.tenant = $1 AND l.rtype = 'Goal' AND l.param = 'lifecycle-status' AND l.code = 'active')
     ORDER BY r.id LIMIT 100`,
    params: [tenant, type, id],
  };
}

async function assess(repo: Repository, goal: Goal, target: GoalTarget, patient: string, code: string): Promise<Goal['achievementStatus']> {
  const { latest, baseline } = (await latestAndBaseline(repo, patient, code, goal.startDate)) ?? (await latestAndBaselineBySearch(repo, patient, code, goal.startDate));
  if (!latest) return undefined;
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

interface Ends {
  latest?: Observation;
  baseline?: Observation;
}

/**
 * Latest and baseline in one statement over the index tables, with exactly the semantics of
 *   Observation?subject=<patient>&code=<LOINC>|<code>&status=final,amended,corrected[&date=ge<start>]
 * sorted by -date (latest) and by date (baseline), _count=1 — i.e. store/search's rules: `ge` on
 * the [low, high) ranges is low >= sl OR high > sh (search/sql-date.ts); -date orders by the
 * highest `high`, date by the lowest `low`, no date last, then id (search/sort.ts).
 * Two searches cost two parses, access compositions and bundles; on PGlite inside the seed's long
 * transaction (no planner statistics) their plans cost far more. The repository is tenant-admin
 * (Repository.asServer): no access predicate. Undefined when the start date does not parse as a search
 * value would, so the searches give their own answer (an error) as before.
 */
async function latestAndBaseline(repo: Repository, patient: string, code: string, startDate: string | undefined): Promise<Ends | undefined> {
  const [type, id] = patient.split('/');
  const params: unknown[] = [repo.ctx.tenant, type, id, LOINC, code, COUNTED.split(',')];
  let since = '';
  if (startDate !== undefined) {
    const r = dateRange(startDate);
    if (!r) return undefined;
    params.push(pgInstant(r.low), pgInstant(r.high));
    since = `AND EXISTS (SELECT 1 FROM idx_date d WHERE d.tenant = $1 AND d.rtype = 'Observation' AND d.rid = r.id AND d.param = 'date' AND (d.low >= $7::timestamptz OR d.high > $8::timestamptz))`;
  }
  // Shaped so that even without planner statistics (PGlite inside the seed's transaction) every
  // step is an index lookup: the patient's Observation ids first, then per id the conditions and
  // the sort keys as correlated subplans on the *_resource indexes (materialized CTEs are fences,
  // so the EXISTS are not turned into joins). FILTER keeps min/max from being planned as a scan
  // of the whole date index in low/high order (measured 0.17 ms per row on PGlite).
  const rows = await repo.aggregate<{ k: string; content: string }>(
    `WITH ids AS MATERIALIZED (
       SELECT DISTINCT s.rid AS id FROM idx_reference s
       WHERE s.tenant = $1 AND s.rtype = 'Observation' AND s.param = 'subject' AND s.target_id = $3 AND s.target_type = $2),
     f AS MATERIALIZED (
       SELECT r.id,
         EXISTS (SELECT 1 FROM idx_token t WHERE t.tenant = $1 AND t.rtype = 'Observation' AND t.rid = r.id AND t.param = 'code' AND t.system = $4 AND t.code = $5)
         AND EXISTS (SELECT 1 FROM idx_token t WHERE t.tenant = $1 AND t.rtype = 'Observation' AND t.rid = r.id AND t.param = 'status' AND t.code = ANY($6::text[]))
         ${since}
         AND EXISTS (SELECT 1 FROM resource x WHERE x.tenant = $1 AND x.type = 'Observation' AND x.id = r.id AND NOT x.deleted) AS ok
       FROM ids r),
     c AS MATERIALIZED (
       SELECT r.id,
         (SELECT min(d.low) FILTER (WHERE TRUE) FROM idx_date d WHERE d.tenant = $1 AND d.rtype = 'Observation' AND d.rid = r.id AND d.param = 'date') AS lo,
         (SELECT max(d.high) FILTER (WHERE TRUE) FROM idx_date d WHERE d.tenant = $1 AND d.rtype = 'Observation' AND d.rid = r.id AND d.param = 'date') AS hi
       FROM f r WHERE r.ok)
     SELECT x.k, (SELECT r.content FROM resource r WHERE r.tenant = $1 AND r.type = 'Observation' AND r.id = x.id) AS content
     FROM ((SELECT 'latest' AS k, id FROM c ORDER BY hi DESC NULLS LAST, id LIMIT 1)
           UNION ALL
           (SELECT 'baseline' AS k, id FROM c ORDER BY lo NULLS LAST, id LIMIT 1)) x`,
    params
  );
  const pick = (k: string) => {
    const row = rows.find((x) => x.k === k);
    return row ? (JSON.parse(row.content) as Observation) : undefined;
  };
  return { latest: pick('latest'), baseline: pick('baseline') };
}

/** The same through two searches (used when the start date is not a valid search value). */
async function latestAndBaselineBySearch(repo: Repository, patient: string, code: string, startDate: string | undefined): Promise<Ends> {
  const base: [string, string][] = [['subject', patient], ['code', `${LOINC}|${code}`], ['status', COUNTED], ['_count', '1'], ['_total', 'none']];
  const start = startDate ? [['date', `ge${startDate}`] as [string, string]] : [];
  const latest = first(await repo.searchParams('Observation', [...base, ...start, ['_sort', '-date']]));
  if (!latest) return {};
  const baseline = first(await repo.searchParams('Observation', [...base, ...start, ['_sort', 'date']]));
  return { latest, baseline };
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
