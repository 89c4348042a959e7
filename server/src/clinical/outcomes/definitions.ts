import { LOINC } from '../codes.ts';

/**
 * Published outcome definitions for measurement-based care, in one place so that the per-patient
 * summary ($mbc-summary) and the cohort SQL ($mbc-cohort) apply the same cut-offs.
 *
 * Sources:
 * - RESPONSE: a reduction of ≥ 50% from the index (baseline) score. MN Community Measurement,
 *   NQF 1884 / NQF 1885 "Depression Response at Six / Twelve Months – Progress Towards
 *   Remission" (PHQ-9); applied to GAD-7 by analogy (no NQF anxiety response measure exists).
 * - REMISSION: PHQ-9 < 5. NQF 0710 / CMS159 "Depression Remission at Twelve Months". GAD-7 < 5 by
 *   analogy: 0–4 is the "minimal anxiety" band of Spitzer RL et al., Arch Intern Med
 *   2006;166:1092-7. (NQF 0710 also requires an index PHQ-9 > 9 and a 12-month ± 60-day window;
 *   the per-patient flag here is only the "latest < 5" criterion, see README.)
 * - RELIABLE CHANGE and CASENESS: NHS Talking Therapies for anxiety and depression Manual
 *   (NHS England, v7 2024) and the NHS Talking Therapies (IAPT) Data Handbook: reliable change is
 *   a change of ≥ 6 points on PHQ-9 and ≥ 4 points on GAD-7; caseness is PHQ-9 ≥ 10 or GAD-7 ≥ 8;
 *   recovery is moving from caseness at the first paired assessment to below caseness on both
 *   measures at the last paired assessment.
 */
/** Observation statuses that count for outcomes (codes.ts: final, amended, corrected). */
export const COUNTED_STATUSES = ['final', 'amended', 'corrected'] as const;

export interface InstrumentRule {
  key: string;
  name: string;
  /** LOINC code of the scored total (the Observation.code of codes.ts's score contract). */
  totalCode: string;
  /** LOINC panel code: CarePlan.activity.detail.code of a scheduled assessment (codes.ts). */
  panelCode: string;
  /** Remission when the latest score is below this (NQF 0710 / CMS159; GAD-7 by analogy). */
  remissionBelow: number;
  /** Reliable improvement when the score falls by at least this much (NHS Talking Therapies). */
  reliableChange: number;
  /** Caseness at or above this score (NHS Talking Therapies). */
  casenessAtLeast: number;
}

/** ≥ 50% reduction from baseline (NQF 1884/1885). */
export const RESPONSE_REDUCTION = 0.5;

export const PHQ9: InstrumentRule = {
  key: 'phq-9',
  name: 'PHQ-9',
  totalCode: '44261-6',
  panelCode: '44249-1',
  remissionBelow: 5,
  reliableChange: 6,
  casenessAtLeast: 10,
};

export const GAD7: InstrumentRule = {
  key: 'gad-7',
  name: 'GAD-7',
  totalCode: '70274-6',
  panelCode: '69737-5',
  remissionBelow: 5,
  reliableChange: 4,
  casenessAtLeast: 8,
};

/** Instruments with published outcome cut-offs. Others are summarised without them. */
export const RULES: readonly InstrumentRule[] = [PHQ9, GAD7];
export const ruleForTotal = (system: string | undefined, code: string | undefined): InstrumentRule | undefined =>
  system === LOINC ? RULES.find((r) => r.totalCode === code) : undefined;

export interface Score {
  /** effectiveDateTime as stored. */
  date: string;
  value: number;
  observation: string;
}

export interface InstrumentOutcome {
  assessments: number;
  first: Score;
  latest: Score;
  /** latest − baseline (negative = fewer symptoms). Only with two or more assessments. */
  change?: number;
  /** change / baseline × 100, one decimal; undefined when baseline is 0. */
  percentChange?: number;
  response?: boolean;
  remission?: boolean;
  reliableImprovement?: boolean;
  reliableDeterioration?: boolean;
}

/** Outcome of one instrument's series (scores in time order; the first is the baseline). */
export function instrumentOutcome(scores: readonly Score[], rule: InstrumentRule | undefined): InstrumentOutcome {
  const first = scores[0];
  const latest = scores[scores.length - 1];
  const out: InstrumentOutcome = { assessments: scores.length, first, latest };
  if (scores.length < 2) return out; // Change needs a baseline and a later score.
  const change = latest.value - first.value;
  out.change = change;
  if (first.value !== 0) out.percentChange = Math.round((change / first.value) * 1000) / 10;
  if (!rule) return out;
  // Integer arithmetic avoids 0.5 × 9 = 4.5 style rounding questions: drop ≥ half of baseline.
  out.response = first.value > 0 && -change * 2 >= first.value * (RESPONSE_REDUCTION * 2);
  out.remission = latest.value < rule.remissionBelow;
  out.reliableImprovement = -change >= rule.reliableChange;
  out.reliableDeterioration = change >= rule.reliableChange;
  return out;
}

export type RecoveryStatus = 'recovered' | 'not-recovered' | 'not-at-caseness' | 'insufficient-data';

export interface Recovery {
  status: RecoveryStatus;
  /** Dates (YYYY-MM-DD) of the first and last paired assessments used. */
  firstPaired?: string;
  lastPaired?: string;
}

/**
 * NHS Talking Therapies recovery: at caseness at the first paired assessment (PHQ-9 ≥ 10 or
 * GAD-7 ≥ 8) and below caseness on both (PHQ-9 < 10 and GAD-7 < 8) at the last paired one.
 * A pair is a PHQ-9 and a GAD-7 recorded on the same day; the last score of that day counts.
 */
export function recovery(phq9: readonly Score[], gad7: readonly Score[]): Recovery {
  const byDay = (s: readonly Score[]) => new Map(s.map((x) => [x.date.slice(0, 10), x.value]));
  const p = byDay(phq9);
  const g = byDay(gad7);
  const days = [...p.keys()].filter((d) => g.has(d)).sort();
  if (days.length < 2) return { status: 'insufficient-data' };
  const firstPaired = days[0];
  const lastPaired = days[days.length - 1];
  const atCaseness = (d: string) => (p.get(d) as number) >= PHQ9.casenessAtLeast || (g.get(d) as number) >= GAD7.casenessAtLeast;
  if (!atCaseness(firstPaired)) return { status: 'not-at-caseness', firstPaired, lastPaired };
  return { status: atCaseness(lastPaired) ? 'not-recovered' : 'recovered', firstPaired, lastPaired };
}
