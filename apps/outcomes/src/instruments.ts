/**
 * What the charts draw behind the server's scores: each instrument's severity bands and cut-off
 * lines. The server scores and flags (every number on screen comes from it), but it does not
 * publish its bands or cut-offs as data: they live in its code (server/src/clinical/scoring/
 * definitions.ts for the bands, server/src/clinical/outcomes/definitions.ts for remission,
 * caseness and reliable change). They are the publishers' values, copied here with their sources,
 * and test/apps/outcomes-definitions.test.ts checks them against the server's, total by total, so
 * the picture cannot drift from the scoring.
 *
 * Sources:
 * - PHQ-9 bands 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe:
 *   Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity
 *   measure. J Gen Intern Med 2001;16:606-613 (and LOINC 44261-6).
 * - GAD-7 bands 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe: Spitzer RL, Kroenke K,
 *   Williams JBW, Löwe B. A brief measure for assessing generalized anxiety disorder: the GAD-7.
 *   Arch Intern Med 2006;166:1092-1097.
 * - Remission below 5 (PHQ-9: NQF 0710 / CMS159; GAD-7 by analogy with its minimal band), caseness
 *   (PHQ-9 ≥ 10, GAD-7 ≥ 8) and reliable change (6 and 4 points): NHS Talking Therapies for anxiety
 *   and depression Manual (v7, 2024) and Data Handbook.
 */
export const LOINC = 'http://loinc.org';

export interface SeverityBand {
  /** Lowest and highest total of the band (inclusive). */
  min: number;
  max: number;
  code: string;
  label: string;
  /** Fill of the band behind the line (light, so the line and labels keep their contrast). */
  color: string;
}

export interface InstrumentBands {
  /** LOINC code of the scored total (the Observation.code the server writes). */
  totalCode: string;
  name: string;
  /** What it measures, for headings. */
  measures: string;
  maxTotal: number;
  bands: SeverityBand[];
  /** Remission when the latest total is below this. */
  remissionBelow: number;
  /** Caseness at or above this total. */
  casenessAtLeast: number;
  /** Reliable change: a change of at least this many points. */
  reliableChange: number;
  source: string;
}

const GREEN = '#d3f9d8';
const LIME = '#e9fac8';
const YELLOW = '#fff3bf';
const ORANGE = '#ffe8cc';
const RED = '#ffe3e3';

export const PHQ9_BANDS: InstrumentBands = {
  totalCode: '44261-6',
  name: 'PHQ-9',
  measures: 'depression',
  maxTotal: 27,
  bands: [
    { min: 0, max: 4, code: 'minimal', label: 'Minimal', color: GREEN },
    { min: 5, max: 9, code: 'mild', label: 'Mild', color: LIME },
    { min: 10, max: 14, code: 'moderate', label: 'Moderate', color: YELLOW },
    { min: 15, max: 19, code: 'moderately-severe', label: 'Moderately severe', color: ORANGE },
    { min: 20, max: 27, code: 'severe', label: 'Severe', color: RED },
  ],
  remissionBelow: 5,
  casenessAtLeast: 10,
  reliableChange: 6,
  source: 'Severity bands: Kroenke, Spitzer & Williams, J Gen Intern Med 2001. Remission below 5: NQF 0710. Caseness 10 or more: NHS Talking Therapies.',
};

export const GAD7_BANDS: InstrumentBands = {
  totalCode: '70274-6',
  name: 'GAD-7',
  measures: 'anxiety',
  maxTotal: 21,
  bands: [
    { min: 0, max: 4, code: 'minimal', label: 'Minimal', color: GREEN },
    { min: 5, max: 9, code: 'mild', label: 'Mild', color: LIME },
    { min: 10, max: 14, code: 'moderate', label: 'Moderate', color: YELLOW },
    { min: 15, max: 21, code: 'severe', label: 'Severe', color: RED },
  ],
  remissionBelow: 5,
  casenessAtLeast: 8,
  reliableChange: 4,
  source: 'Severity bands: Spitzer, Kroenke, Williams & Löwe, Arch Intern Med 2006. Remission below 5: by analogy with NQF 0710. Caseness 8 or more: NHS Talking Therapies.',
};

export const BANDED: readonly InstrumentBands[] = [PHQ9_BANDS, GAD7_BANDS];

/** The bands and cut-offs of a scored total's code, when the instrument has published ones. */
export function bandsFor(system: string | undefined, code: string | undefined): InstrumentBands | undefined {
  return system === LOINC ? BANDED.find((b) => b.totalCode === code) : undefined;
}
