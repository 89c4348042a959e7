import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import { dateRange } from '../../store/date-range.ts';
import type { Repository } from '../../store/repository.ts';
import { LOINC } from '../codes.ts';
import { type CohortFilter, type CohortRow, cohortQuery } from './cohort-sql.ts';
import { RULES } from './definitions.ts';

/** Input parameters of $mbc-cohort, by name (GET query or POST Parameters). */
export type CohortInput = Partial<Record<'program' | 'payer' | 'practitioner' | 'start' | 'end', string>>;

/**
 * The access decision for a cohort report: the caller's constraints are compiled into the SQL
 * (cohort-sql.ts), so the figures cover exactly the scores, patients, plans, coverages and care
 * teams the caller may search. A type the caller may not search at all is a 403, not silently
 * empty figures.
 */
export function assertCohortAccess(repo: Repository, input: CohortInput): void {
  const types = ['Observation', 'Patient', 'CarePlan'];
  if (input.payer) types.push('Coverage');
  if (input.practitioner) types.push('CareTeam');
  for (const t of types) {
    if (repo.ctx.access.readConstraint(t, 's').kind === 'deny') {
      fail('forbidden', `$mbc-cohort needs search access to ${t}`);
    }
  }
}

function reference(value: string, defaultType: string, name: string): { type: string; id: string } {
  const m = /^(?:([A-Z][A-Za-z]+)\/)?([A-Za-z0-9\-.]{1,64})$/.exec(value.trim());
  if (!m) fail('invalid', `Invalid ${name} '${value}': expected ${defaultType}/[id] or [id]`, name);
  return { type: m[1] ?? defaultType, id: m[2] };
}

function instant(value: string, name: string, edge: 'low' | 'high'): string {
  const r = dateRange(value.trim());
  if (!r) fail('invalid', `Invalid ${name} '${value}': expected a FHIR date or dateTime`, name);
  return r[edge];
}

export function parseCohortInput(input: CohortInput): CohortFilter {
  const f: CohortFilter = {
    // The window is [start, end] at the precision given: end=2025-03-31 includes that whole day.
    from: input.start ? instant(input.start, 'start', 'low') : '-infinity',
    to: input.end ? instant(input.end, 'end', 'high') : new Date().toISOString(),
  };
  if (input.start && input.end && Date.parse(f.from) >= Date.parse(f.to)) fail('invalid', 'start must be before end', 'start');
  if (input.program) {
    const v = input.program.trim();
    const bar = v.indexOf('|');
    const code = bar >= 0 ? v.slice(bar + 1) : v;
    if (!code) fail('invalid', `Invalid program '${input.program}': expected [system|]code`, 'program');
    f.program = bar >= 0 ? { system: v.slice(0, bar), code } : { code };
  }
  if (input.payer) f.payer = reference(input.payer, 'Organization', 'payer');
  if (input.practitioner) f.practitioner = reference(input.practitioner, 'Practitioner', 'practitioner');
  return f;
}

const rate = (n: number, d: number): ParametersParameter[] => (d > 0 ? [{ name: 'rate', valueDecimal: Math.round((n / d) * 1000) / 1000 }] : []);
const measure = (name: string, n: number, d: number): ParametersParameter => ({
  name,
  part: [{ name: 'count', valueInteger: n }, { name: 'denominator', valueInteger: d }, ...rate(n, d)],
});

export async function runCohort(repo: Repository, input: CohortInput): Promise<Parameters> {
  const filter = parseCohortInput(input);
  assertCohortAccess(repo, input);
  const { sql, params } = cohortQuery(repo.ctx.tenant, repo.ctx.access, repo.ctx.fhirBase, filter);
  const rows = await repo.withTransaction(async (tx) => {
    // Planner settings for this one analytic statement (SET LOCAL ends with the transaction).
    // Its row estimates (materialized slices, correlated filters) are off by orders of magnitude
    // in both directions, and each wrong choice was measured at 10,000 patients × 10 scores:
    // JIT compilation 2 s; merge joins sorting 100,000s of ids; nested loops re-scanning a CTE per
    // row (2.7 s for a payer filter). Hash joins in memory are right at every cohort size.
    // Parallel workers: the plan over mbc_score flips to a parallel hash aggregate on small cost
    // differences, and the leader then spends the same CPU as alone (160 ms at 10,000 patients),
    // so the workers only add CPU. One round trip: set_config(…, true) is SET LOCAL.
    await tx.aggregate(
      `SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true),
        set_config('enable_mergejoin', 'off', true), set_config('enable_nestloop', 'off', true), set_config('work_mem', '64MB', true)`,
      []
    );
    return tx.aggregate<CohortRow>(sql, params);
  });
  const parameter: ParametersParameter[] = [];
  const echo = (name: keyof CohortInput) => (input[name] ? [{ name, valueString: input[name] }] : []);
  parameter.push(...echo('program'), ...echo('payer'), ...echo('practitioner'));
  parameter.push({ name: 'period', valuePeriod: { ...(input.start ? { start: filter.from } : {}), end: filter.to } });
  parameter.push({ name: 'patients', valueInteger: rows[0]?.all_patients ?? 0 });
  parameter.push({ name: 'patientsWithTwoOrMore', valueInteger: rows[0]?.all_paired ?? 0 });
  let expected = 0;
  let completed = 0;
  for (const r of rows) {
    const rule = RULES.find((x) => x.totalCode === r.code);
    expected += r.expected;
    completed += r.completed;
    const part: ParametersParameter[] = [
      { name: 'code', valueCoding: { system: LOINC, code: r.code, display: rule?.name } },
      { name: 'patients', valueInteger: r.patients },
      { name: 'patientsWithTwoOrMore', valueInteger: r.paired },
      measure('response', r.responders, r.paired),
      measure('remission', r.remitted, r.paired),
      measure('reliableImprovement', r.reliable, r.paired),
    ];
    if (r.median_change !== null) part.push({ name: 'medianChange', valueDecimal: Number(r.median_change) });
    part.push(measure('scheduledCompleted', r.completed, r.expected));
    parameter.push({ name: 'instrument', part });
  }
  parameter.push(measure('scheduledCompleted', completed, expected));
  return { resourceType: 'Parameters', parameter };
}
