import { LOINC } from '../codes.ts';

/**
 * Reliable-change thresholds: the smallest change in an instrument total that exceeds
 * measurement error, used to call a goal's trend improving or worsening rather than no-change.
 *
 * Source: NHS England, "NHS Talking Therapies for anxiety and depression Manual" (v7, 2024),
 * section "Reliable improvement / reliable deterioration": a change of 6 or more points on the
 * PHQ-9 and 4 or more on the GAD-7 between the first and last measurement is reliable
 * (derived from the instruments' reliability with the Jacobson & Truax 1991 reliable change index).
 * Measures without a published threshold here get no trend, only achieved / in-progress.
 */
export const RELIABLE_CHANGE: Record<string, { name: string; points: number }> = {
  [`${LOINC}|44261-6`]: { name: 'PHQ-9 total', points: 6 },
  [`${LOINC}|70274-6`]: { name: 'GAD-7 total', points: 4 },
};
