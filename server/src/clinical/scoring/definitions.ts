import type { Questionnaire } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { questionnaireUrl } from '../codes.ts';

/**
 * The instruments the platform ships (questionnaires/*.json) and what the Questionnaire files
 * cannot say themselves: the severity bands of the total and which answers are risk findings.
 * Bands and cut-points are the publishers' (cited in each file's `description` and in
 * questionnaires/README.md); the total itself comes from the file's calculatedExpression.
 */
export interface Band {
  min: number;
  max: number;
  code: string;
  display: string;
}

export type Sex = 'male' | 'female' | 'unknown';

export interface BandContext {
  /** Patient.gender mapped to the instrument's notion of sex (AUDIT-C); 'unknown' when not known. */
  sex: Sex;
  /** Ordinal (or yes = 1 / no = 0) value of each answered item, by linkId, from the Questionnaire. */
  ordinals: Map<string, number>;
  /** Answer code of each answered choice item, by linkId (for yes/no questions outside the score). */
  codes: Map<string, string>;
}

export interface BandResult {
  code: string;
  display: string;
  /** Extra words for Observation.interpretation.text (e.g. which AUDIT-C cut-point applied). */
  note?: string;
}

export interface RiskFinding {
  code: 'suicide-risk' | 'acute';
  display: string;
  /** Item whose Observation carries the flag too (besides the total). */
  linkId?: string;
}

export interface InstrumentDefinition {
  /** Short name: questionnaires/<name>.json, questionnaireUrl(<name>). */
  name: string;
  url: string;
  version: string;
  title: string;
  /** The calculated total item (linkId) and its code. */
  totalLinkId: string;
  totalCode: { system: string; code: string };
  /** Scored items in order. */
  scoredLinkIds: string[];
  /** The highest possible total, for range checks and tests. */
  maxTotal: number;
  band(total: number, ctx: BandContext): BandResult;
  risks?(total: number, ctx: BandContext): RiskFinding[];
  /** The Questionnaire as shipped. */
  questionnaire: Questionnaire;
}

const QUESTIONNAIRE_DIR = join(import.meta.dirname, '../../../../questionnaires');

function file(name: string): Questionnaire {
  return JSON.parse(readFileSync(join(QUESTIONNAIRE_DIR, `${name}.json`), 'utf8')) as Questionnaire;
}

function byBands(bands: Band[]): (total: number) => BandResult {
  return (total) => {
    const b = bands.find((x) => total >= x.min && total <= x.max);
    if (!b) throw new Error(`total ${total} outside every band`);
    return { code: b.code, display: b.display };
  };
}

/** PHQ-9 and PHQ-A: Kroenke, Spitzer & Williams 2001; LOINC 44261-6. */
const PHQ9_BANDS: Band[] = [
  { min: 0, max: 4, code: 'minimal', display: 'Minimal depression' },
  { min: 5, max: 9, code: 'mild', display: 'Mild depression' },
  { min: 10, max: 14, code: 'moderate', display: 'Moderate depression' },
  { min: 15, max: 19, code: 'moderately-severe', display: 'Moderately severe depression' },
  { min: 20, max: 27, code: 'severe', display: 'Severe depression' },
];
/** GAD-7: Spitzer et al. 2006. */
const GAD7_BANDS: Band[] = [
  { min: 0, max: 4, code: 'minimal', display: 'Minimal anxiety' },
  { min: 5, max: 9, code: 'mild', display: 'Mild anxiety' },
  { min: 10, max: 14, code: 'moderate', display: 'Moderate anxiety' },
  { min: 15, max: 21, code: 'severe', display: 'Severe anxiety' },
];
/** PHQ-2: Kroenke, Spitzer & Williams 2003, cut-point 3. */
const PHQ2_BANDS: Band[] = [
  { min: 0, max: 2, code: 'negative', display: 'Negative depression screen' },
  { min: 3, max: 6, code: 'positive', display: 'Positive depression screen' },
];
/** PCL-5: National Center for PTSD, provisional cut-point 31-33 (Bovin et al. 2016). */
const PCL5_BANDS: Band[] = [
  { min: 0, max: 30, code: 'below-cutpoint', display: 'Below the PCL-5 provisional cut-point (31-33)' },
  { min: 31, max: 32, code: 'within-cutpoint-range', display: 'Within the PCL-5 provisional cut-point range (31-33): possible PTSD' },
  { min: 33, max: 80, code: 'probable-ptsd', display: 'At or above the PCL-5 provisional cut-point (31-33): probable PTSD' },
];

const SUICIDE_RISK = 'Positive suicide-risk finding: needs clinician follow-up';
const YES = 1;
/** LOINC answer LA33-6 "Yes". */
const LOINC_YES = 'LA33-6';

function def(d: Omit<InstrumentDefinition, 'url' | 'version' | 'title' | 'questionnaire'>): InstrumentDefinition {
  const questionnaire = file(d.name);
  const url = questionnaireUrl(d.name);
  if (questionnaire.url !== url) throw new Error(`questionnaires/${d.name}.json: url ${questionnaire.url} is not ${url}`);
  return { ...d, url, version: questionnaire.version as string, title: questionnaire.title as string, questionnaire };
}

const PHQ9_ITEMS = ['44250-9', '44255-8', '44259-0', '44254-1', '44251-7', '44258-2', '44252-5', '44253-3', '44260-8'];
const PHQA_ITEMS = Array.from({ length: 9 }, (_, i) => `phq-a-${i + 1}`);
const PCL5_ITEMS = Array.from({ length: 20 }, (_, i) => `pcl-5-${i + 1}`);
const ASQ_ITEMS = ['asq-1', 'asq-2', 'asq-3', 'asq-4'];

export const INSTRUMENTS: Record<string, InstrumentDefinition> = Object.fromEntries(
  [
    def({
      name: 'phq-9',
      totalLinkId: '44261-6',
      totalCode: { system: 'http://loinc.org', code: '44261-6' },
      scoredLinkIds: PHQ9_ITEMS,
      maxTotal: 27,
      band: byBands(PHQ9_BANDS),
      // Item 9 (44260-8, thoughts of self-harm) answered above "Not at all".
      risks: (_t, ctx) => ((ctx.ordinals.get('44260-8') ?? 0) > 0 ? [{ code: 'suicide-risk', display: SUICIDE_RISK, linkId: '44260-8' }] : []),
    }),
    def({ name: 'gad-7', totalLinkId: '70274-6', totalCode: { system: 'http://loinc.org', code: '70274-6' }, scoredLinkIds: ['69725-0', '68509-9', '69733-4', '69734-2', '69735-9', '69689-8', '69736-7'], maxTotal: 21, band: byBands(GAD7_BANDS) }),
    def({ name: 'phq-2', totalLinkId: '55758-7', totalCode: { system: 'http://loinc.org', code: '55758-7' }, scoredLinkIds: PHQ9_ITEMS.slice(0, 2), maxTotal: 6, band: byBands(PHQ2_BANDS) }),
    def({
      name: 'phq-a',
      totalLinkId: '89204-2',
      totalCode: { system: 'http://loinc.org', code: '89204-2' },
      scoredLinkIds: PHQA_ITEMS,
      maxTotal: 27,
      band: byBands(PHQ9_BANDS),
      // GLAD-PC scoring instructions: item 9 > 0, or "yes" to past-month serious thoughts (12) or a lifetime attempt (13).
      risks: (_t, ctx) => {
        const item9 = (ctx.ordinals.get('phq-a-9') ?? 0) > 0;
        const yes = ctx.codes.get('phq-a-12') === LOINC_YES || ctx.codes.get('phq-a-13') === LOINC_YES;
        return item9 || yes ? [{ code: 'suicide-risk', display: SUICIDE_RISK, ...(item9 ? { linkId: 'phq-a-9' } : {}) }] : [];
      },
    }),
    def({
      name: 'audit-c',
      totalLinkId: '75626-2',
      totalCode: { system: 'http://loinc.org', code: '75626-2' },
      scoredLinkIds: ['68518-0', '68519-8', '68520-6'],
      maxTotal: 12,
      // LOINC 75626-2: positive at >= 4 for men, >= 3 for women. Unknown sex: the lower cut-point,
      // so a screen is never missed for want of a recorded gender.
      band: (total, ctx) => {
        const cut = ctx.sex === 'male' ? 4 : 3;
        const note =
          ctx.sex === 'male' ? 'cut-point >= 4 (men)' : ctx.sex === 'female' ? 'cut-point >= 3 (women)' : 'sex unknown: cut-point >= 3 (the lower, women\'s cut-point) applied';
        return total >= cut
          ? { code: 'positive', display: 'Positive AUDIT-C screen (hazardous drinking or active alcohol use disorder likely)', note }
          : { code: 'negative', display: 'Negative AUDIT-C screen', note };
      },
    }),
    def({ name: 'pcl-5', totalLinkId: '101698-9', totalCode: { system: 'http://loinc.org', code: '101698-9' }, scoredLinkIds: PCL5_ITEMS, maxTotal: 80, band: byBands(PCL5_BANDS) }),
    def({
      name: 'asq',
      totalLinkId: 'asq-result',
      totalCode: { system: 'http://bh-fhir.org/fhir/CodeSystem/instrument-item', code: 'asq-result' },
      scoredLinkIds: ASQ_ITEMS,
      maxTotal: 4,
      // NIMH ASQ toolkit: no to 1-4 negative; any yes and no to 5 non-acute positive; yes to 5 acute positive.
      band: (yesCount, ctx) => {
        if (yesCount === 0) return { code: 'negative', display: 'Negative suicide risk screen' };
        if (ctx.ordinals.get('asq-5') === YES) return { code: 'acute-positive', display: 'Acute positive suicide risk screen (imminent risk): STAT safety / full mental health evaluation' };
        return { code: 'non-acute-positive', display: 'Non-acute positive suicide risk screen (potential risk): brief suicide safety assessment' };
      },
      risks: (yesCount, ctx) => {
        if (yesCount === 0) return [];
        const flags: RiskFinding[] = [{ code: 'suicide-risk', display: SUICIDE_RISK }];
        if (ctx.ordinals.get('asq-5') === YES) flags.push({ code: 'acute', display: 'Acute suicide risk (ASQ question 5 "yes")', linkId: 'asq-5' });
        return flags;
      },
    }),
  ].map((d) => [d.name, d])
);

export function instrumentByUrl(url: string | undefined): InstrumentDefinition | undefined {
  if (!url) return undefined;
  return Object.values(INSTRUMENTS).find((d) => d.url === url);
}
