import type { Bundle, Observation, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { OBSERVATION_CATEGORY, profileUrl } from '../codes.ts';
import { COUNTED_STATUSES, GAD7, PHQ9, type Score, instrumentOutcome, recovery, ruleForTotal } from './definitions.ts';

interface Series {
  system?: string;
  code?: string;
  name: string;
  scores: Score[];
}

/**
 * The scored totals of one patient that the caller may see, in time order, grouped by
 * instrument code. Goes through the repository's search so the access policy is in the SQL.
 */
export async function patientScores(repo: Repository, patientId: string): Promise<Series[]> {
  let params: [string, string][] = [
    ['subject', `Patient/${patientId}`],
    ['category', `${OBSERVATION_CATEGORY}|survey`],
    ['_profile', profileUrl('assessment-score')],
    ['status', COUNTED_STATUSES.join(',')],
    ['_sort', 'date,_id'],
    ['_count', String(repo.ctx.maxCount)],
  ];
  const series = new Map<string, Series>();
  for (let page = 0; page < 100; page++) {
    const bundle: Bundle = await repo.searchParams('Observation', params);
    for (const e of bundle.entry ?? []) {
      const o = e.resource as Observation;
      if (e.search?.mode !== 'match' || o?.resourceType !== 'Observation') continue;
      const value = o.valueQuantity?.value;
      const date = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued;
      const coding = o.code?.coding?.[0];
      if (typeof value !== 'number' || !date) continue; // A total without a number or a time is not a score.
      const key = `${coding?.system ?? ''}|${coding?.code ?? o.code?.text ?? ''}`;
      let s = series.get(key);
      if (!s) {
        const rule = ruleForTotal(coding?.system, coding?.code);
        s = { system: coding?.system, code: coding?.code, name: rule?.name ?? o.code?.text ?? coding?.display ?? coding?.code ?? 'unknown', scores: [] };
        series.set(key, s);
      }
      s.scores.push({ date, value, observation: `Observation/${o.id}` });
    }
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    // The next link carries the same search plus a cursor (store/search/paging.ts).
    params = [...new URL(next).searchParams];
  }
  // _sort=date orders by the indexed low bound; re-sort on the stored time to be exact.
  for (const s of series.values()) s.scores.sort((a, b) => Date.parse(a.date) - Date.parse(b.date) || a.observation.localeCompare(b.observation));
  // PHQ-9 first, GAD-7 second, then others by name: a stable order for readers.
  const rank = (s: Series) => (s.code === PHQ9.totalCode ? 0 : s.code === GAD7.totalCode ? 1 : 2);
  return [...series.values()].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** The Parameters answer of Patient/[id]/$mbc-summary (shape: README.md, MBC_SUMMARY_DEFINITION). */
export function summaryParameters(patientId: string, series: Series[]): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'patient', valueReference: { reference: `Patient/${patientId}` } }];
  for (const s of series) {
    const rule = ruleForTotal(s.system, s.code);
    const o = instrumentOutcome(s.scores, rule);
    const part: ParametersParameter[] = [
      { name: 'code', valueCoding: { system: s.system, code: s.code, display: s.name } },
      { name: 'name', valueString: s.name },
      { name: 'assessments', valueInteger: o.assessments },
      { name: 'baseline', valueDecimal: o.first.value },
      { name: 'baselineDate', valueDateTime: o.first.date },
      { name: 'latest', valueDecimal: o.latest.value },
      { name: 'latestDate', valueDateTime: o.latest.date },
    ];
    if (o.change !== undefined) part.push({ name: 'change', valueDecimal: o.change });
    if (o.percentChange !== undefined) part.push({ name: 'percentChange', valueDecimal: o.percentChange });
    if (o.response !== undefined) part.push({ name: 'response', valueBoolean: o.response });
    if (o.remission !== undefined) part.push({ name: 'remission', valueBoolean: o.remission });
    if (o.reliableImprovement !== undefined) part.push({ name: 'reliableImprovement', valueBoolean: o.reliableImprovement });
    if (o.reliableDeterioration !== undefined) part.push({ name: 'reliableDeterioration', valueBoolean: o.reliableDeterioration });
    for (const sc of s.scores) {
      part.push({
        name: 'score',
        part: [
          { name: 'date', valueDateTime: sc.date },
          { name: 'value', valueDecimal: sc.value },
          { name: 'observation', valueReference: { reference: sc.observation } },
        ],
      });
    }
    parameter.push({ name: 'instrument', part });
  }
  const phq = series.find((s) => s.code === PHQ9.totalCode && ruleForTotal(s.system, s.code));
  const gad = series.find((s) => s.code === GAD7.totalCode && ruleForTotal(s.system, s.code));
  const r = recovery(phq?.scores ?? [], gad?.scores ?? []);
  const part: ParametersParameter[] = [{ name: 'status', valueCode: r.status }];
  if (r.firstPaired) part.push({ name: 'firstPaired', valueDate: r.firstPaired });
  if (r.lastPaired) part.push({ name: 'lastPaired', valueDate: r.lastPaired });
  parameter.push({ name: 'recovery', part });
  return { resourceType: 'Parameters', parameter };
}
