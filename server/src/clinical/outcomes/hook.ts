import type { CarePlan, Observation, Resource } from '@medplum/fhirtypes';
import type { Statement } from '../../db/database.ts';
import { stringifyJson } from '../../kernel/json.ts';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import { keyColumns } from '../../store/index-key.ts';
import { indexResource } from '../../store/indexer.ts';
import { LOINC } from '../codes.ts';
import { RULES } from './definitions.ts';
import { planSchedulesSql } from './schedule-sql.ts';

/**
 * Keeps the cohort report's two narrow tables (migration 022) equal to what they are derived
 * from, in the transaction of every write of an Observation or CarePlan:
 *  - mbc_score: per scored total (an Observation coded with an instrument's LOINC total code),
 *    one row per combination of its index rows for code, subject (a Patient), date and
 *    value-quantity — the join $mbc-cohort used to make over the index tables at every request —
 *    with its status codes;
 *  - mbc_schedule: per CarePlan with a Patient subject, its scheduled assessments (./schedule-sql.ts).
 * A delete removes the rows; an update replaces them. The rows go out with the write's own
 * statement (Repository.deferStatement: no extra round trip); a write of anything else, or of an
 * Observation or CarePlan that is not (and was not) a score or a plan with assessments, adds nothing.
 *
 * Writes that skip the server's hooks (a Repository built without them) do not maintain these
 * tables; the benchmark's bulk load therefore passes this hook.
 */
const TOTAL_CODES = RULES.map((r) => r.totalCode);
const PANEL_CODES = RULES.map((r) => r.panelCode);
const [LOINC_KEY] = keyColumns(LOINC);

const hasLoinc = (codings: { system?: string; code?: string }[] | undefined, codes: readonly string[]) =>
  Boolean(codings?.some((c) => c.system === LOINC && c.code !== undefined && codes.includes(c.code)));
const isScore = (r: Resource | undefined) => r?.resourceType === 'Observation' && hasLoinc((r as Observation).code?.coding, TOTAL_CODES);
const hasAssessments = (r: Resource | undefined) =>
  r?.resourceType === 'CarePlan' && Boolean((r as CarePlan).activity?.some((a) => hasLoinc(a.detail?.code?.coding, PANEL_CODES)));

/** The patients a resource's `subject` index rows name (the same rows the index tables hold). */
function patientSubjects(rows: ReturnType<typeof indexResource>): string[] {
  return rows.reference.filter((r) => r.param === 'subject' && r.targetType === 'Patient').map((r) => r.targetId as string);
}

/** An Observation's mbc_score rows: the join product of its code, subject, date and value-quantity index rows. */
export function scoreStatement(tenant: string, fhirBase: string, id: string, obs: Observation | undefined): Statement {
  const rows = obs ? indexResource(obs, fhirBase) : undefined;
  const codes = rows?.token.filter((t) => t.param === 'code' && keyColumns(t.system)[0] === LOINC_KEY && TOTAL_CODES.includes(keyColumns(t.code)[0] as string)) ?? [];
  if (!rows || codes.length === 0) return { sql: 'DELETE FROM mbc_score WHERE tenant = $1 AND id = $2', params: [tenant, id] };
  const subjects = patientSubjects(rows);
  const dates = rows.date.filter((d) => d.param === 'date');
  const values = rows.quantity.filter((q) => q.param === 'value-quantity');
  // What the report excludes is decided at read time (definitions.ts COUNTED_STATUSES).
  const statuses = rows.token.filter((t) => t.param === 'status' && t.code !== null).map((t) => keyColumns(t.code)[0]);
  const u: { code: unknown[]; pid: unknown[]; at: unknown[]; value: unknown[] } = { code: [], pid: [], at: [], value: [] };
  for (const c of codes) {
    for (const pid of subjects) {
      for (const d of dates) {
        for (const v of values) {
          u.code.push(keyColumns(c.code)[0]);
          u.pid.push(pid);
          u.at.push(d.low);
          u.value.push(v.low === null ? null : String(v.low));
        }
      }
    }
  }
  return {
    sql: `WITH gone AS (DELETE FROM mbc_score WHERE tenant = $1 AND id = $2)
      INSERT INTO mbc_score (tenant, id, code, pid, at, value, statuses)
      SELECT $1, $2, u.code, u.pid, u.at, u.value, $7::text[] FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::numeric[]) AS u(code, pid, at, value)`,
    params: [tenant, id, u.code, u.pid, u.at, u.value, statuses],
  };
}

/** A CarePlan's mbc_schedule rows, computed by the database from the plan as stored. */
export function scheduleStatement(tenant: string, fhirBase: string, id: string, plan: CarePlan | undefined): Statement {
  if (!plan || !hasAssessments(plan)) return { sql: 'DELETE FROM mbc_schedule WHERE tenant = $1 AND plan_id = $2', params: [tenant, id] };
  return {
    sql: `WITH gone AS (DELETE FROM mbc_schedule WHERE tenant = $1 AND plan_id = $2)
      INSERT INTO mbc_schedule (tenant, plan_id, pid, code, start_at, end_at, step_s)
      SELECT $1, $2, s.pid, x.code, x.start_at, x.end_at, x.step_s
      FROM unnest($3::text[]) AS s(pid) CROSS JOIN (${planSchedulesSql('$4::jsonb', '$5::text', '$6::text[]', '$7::text[]')}) x`,
    params: [tenant, id, patientSubjects(indexResource(plan, fhirBase)), stringifyJson(plan), LOINC, TOTAL_CODES, PANEL_CODES],
  };
}

export const outcomesHook: WriteHook = {
  name: 'outcomes-cohort-rows',
  types: ['Observation', 'CarePlan'],

  async afterWrite(event: WriteEvent) {
    const { repo, resourceType, id, before, after } = event;
    const relevant = resourceType === 'Observation' ? isScore : hasAssessments;
    // A create of something else has no rows to add; an update or delete may have rows to remove
    // (its `before` said so, or is unknown).
    const had = event.method !== 'create' && (before === undefined || relevant(before));
    if (!had && !relevant(after)) return;
    const { tenant, fhirBase } = repo.ctx;
    await repo.deferStatement(
      resourceType === 'Observation' ? scoreStatement(tenant, fhirBase, id, after as Observation | undefined) : scheduleStatement(tenant, fhirBase, id, after as CarePlan | undefined)
    );
  },
};
