import type { AccessPolicy } from '../../access/policy.ts';
import { compileConstraint } from '../../store/search/compile.ts';
import { Sql } from '../../store/search/sql.ts';
import { tokenCondition } from '../../store/search/sql-token.ts';
import { COUNTED_STATUSES, RESPONSE_REDUCTION, RULES } from './definitions.ts';

/**
 * The cohort report as ONE SQL statement over two narrow tables the write path keeps
 * (migration 022, ./hook.ts): mbc_score, the scored totals as their index rows describe them
 * (code, subject, date = the low bound of effective[x], value-quantity, status), and
 * mbc_schedule, each CarePlan's scheduled assessments (./schedule-sql.ts). The cohort filters
 * read the index tables (CarePlan category, Coverage payor/beneficiary, CareTeam
 * participant/subject); nothing is loaded into JavaScript.
 *
 * Cut-offs come from ./definitions.ts as bind parameters, so the per-patient summary and the
 * cohort always agree.
 *
 * The caller's access decision is compiled INTO the statement (store/search/access.ts
 * `compileConstraint`), per type read: a score counts only if the caller may search that
 * Observation and its Patient; a plan, coverage or care team only if the caller may search it.
 * A clinician limited to their care relationships therefore gets the figures of their patients.
 */
export interface CohortFilter {
  program?: { system?: string; code: string };
  payer?: { type: string; id: string };
  practitioner?: { type: string; id: string };
  /** [from, to) as instants. */
  from: string;
  to: string;
}

export interface CohortRow {
  code: string;
  all_patients: number;
  all_paired: number;
  patients: number;
  paired: number;
  responders: number;
  remitted: number;
  reliable: number;
  median_change: number | null;
  expected: number;
  completed: number;
}

export function cohortQuery(tenant: string, access: AccessPolicy, fhirBase: string, f: CohortFilter): { sql: string; params: unknown[] } {
  const q = new Sql(tenant);
  const env = { access, fhirBase, permission: 's' as const };
  /**
   * The caller's constraint on `type` for the row `alias`, which must have an `id` column
   * (compileConstraint's contract). Written against a real row, not a per-row subquery, so the
   * planner can turn it into a hashed semi/anti join over 100,000s of rows.
   */
  const visible = (type: string, alias: string): string => {
    const c = access.readConstraint(type, 's');
    if (c.kind === 'all') return 'TRUE';
    const before = q.params.length;
    const pred = compileConstraint(q, type, alias, c, env);
    // A branch compiled and then dropped (e.g. AND with a FALSE part) can leave bind parameters
    // the text no longer names; PostgreSQL rejects those, so keep only the referenced ones.
    const added = q.params.splice(before);
    const used = new Map<number, string>();
    return pred.replace(/\$(\d+)/g, (m, n: string) => {
      const i = Number(n);
      if (i <= before) return m;
      let ref = used.get(i);
      if (!ref) used.set(i, (ref = `$${q.params.push(added[i - before - 1])}`));
      return ref;
    });
  };
  const codes = q.p(RULES.map((r) => r.totalCode), 'text[]');
  const remit = q.p(RULES.map((r) => r.remissionBelow), 'numeric[]');
  const rc = q.p(RULES.map((r) => r.reliableChange), 'numeric[]');
  const statuses = q.p([...COUNTED_STATUSES], 'text[]');
  const from = q.p(f.from, 'timestamptz');
  const to = q.p(f.to, 'timestamptz');
  const half = q.p(RESPONSE_REDUCTION, 'numeric');

  // The cohort: patients passing every filter given (intersection). No filter: every patient with scores.
  const sets: string[] = [];
  let programPlans = '';
  if (f.program) {
    // A code of any length (the index holds a long one's first characters: store/index-key.ts).
    const category = tokenCondition(q, 't', { kind: 'token', system: f.program.system, code: f.program.code });
    programPlans = `SELECT t.rid FROM idx_token t WHERE t.tenant = $1 AND t.rtype = 'CarePlan' AND t.param = 'category' AND ${category}`;
    sets.push(`SELECT r.target_id FROM (SELECT rid AS id, target_id FROM idx_reference WHERE tenant = $1 AND rtype = 'CarePlan' AND param = 'subject'
      AND target_type = 'Patient' AND rid IN (${programPlans})) r WHERE ${visible('CarePlan', 'r')}`);
  }
  if (f.payer) {
    sets.push(`SELECT b.target_id FROM (SELECT rid AS id FROM idx_reference WHERE tenant = $1 AND rtype = 'Coverage' AND param = 'payor'
        AND target_id = ${q.p(f.payer.id)} AND target_type = ${q.p(f.payer.type)}) p
      JOIN idx_reference b ON b.tenant = $1 AND b.rtype = 'Coverage' AND b.rid = p.id AND b.param = 'beneficiary' AND b.target_type = 'Patient'
      WHERE ${visible('Coverage', 'p')}`);
  }
  if (f.practitioner) {
    sets.push(`SELECT s.target_id FROM (SELECT rid AS id FROM idx_reference WHERE tenant = $1 AND rtype = 'CareTeam' AND param = 'participant'
        AND target_id = ${q.p(f.practitioner.id)} AND target_type = ${q.p(f.practitioner.type)}) m
      JOIN idx_reference s ON s.tenant = $1 AND s.rtype = 'CareTeam' AND s.rid = m.id AND s.param = 'subject' AND s.target_type = 'Patient'
      WHERE ${visible('CareTeam', 'm')}`);
  }
  const cohortCte = sets.length ? `cohort AS MATERIALIZED (SELECT target_id COLLATE "C" AS target_id FROM (${sets.join('\n    INTERSECT\n    ')}) x),` : '';
  // A join, not IN (…): with the statement's (over)estimates PostgreSQL would not hash an IN list.
  const joinCohort = (col: string) => (sets.length ? ` JOIN cohort ch ON ch.target_id = ${col}` : '');

  const sql = `
WITH ${cohortCte}
rules AS (SELECT * FROM unnest(${codes}, ${remit}, ${rc}) AS u(code, remit, rc)),
-- The scored totals in the window, from the narrow copy the write path keeps (mbc_score,
-- clinical/outcomes/hook.ts): one scan of ~1,700 pages at 10,000 patients × 10 scores, instead
-- of four index-table slices of 100,000s of rows hash-joined on rid (~13,500 pages; the caller
-- still runs this with nested loops, merge joins and JIT off, see cohort.ts). A score counts
-- unless a status of it is not counted.
-- Ids keep the database's collation: an access predicate probes the index tables by them
-- (x.rid = o.id), which an id in another collation cannot use — with "C" ids here, a clinician's
-- 500-patient caseload probed the whole subject index once per score (minutes at 10,000 patients).
-- Each score is checked against the caller's access to its Patient and to itself, in one scan:
-- PostgreSQL evaluates the cheaper predicate first, so a clinician's caseload (Patient: a hashed
-- id list) spares the per-score Observation probe of every other patient's scores.
obs AS (
  SELECT o.id, o.code, o.pid, o.at, o.value
  FROM (SELECT sp.oid AS id, sp.code, sp.id AS pid, sp.at, sp.value
        FROM (SELECT s.pid AS id, s.id AS oid, s.code, s.at, s.value
              FROM mbc_score s${joinCohort('s.pid')}
              WHERE s.tenant = $1 AND s.code = ANY(${codes}) AND s.at >= ${from} AND s.at < ${to} AND s.statuses <@ ${statuses}) sp
        WHERE ${visible('Patient', 'sp')}) o
  WHERE ${visible('Observation', 'o')}
),
-- Baseline and latest as min/max of [epoch, value] pairs: plain aggregates, hashed, with no sort
-- of 100,000s of rows (two scores at the same instant resolve to the lower value). Grouped in the
-- "C" collation (access is checked above): with a cohort filter the estimates are tiny and
-- PostgreSQL sorts to group instead, and byte order sorts ids several times faster.
per AS MATERIALIZED (
  SELECT o.pid COLLATE "C" AS pid, o.code, count(*)::int AS n,
    (min(ARRAY[extract(epoch FROM o.at)::numeric, o.value]))[2] AS baseline,
    (max(ARRAY[extract(epoch FROM o.at)::numeric, o.value]))[2] AS latest
  FROM obs o
  GROUP BY 1, 2
),
-- The cohort's plans' scheduled assessments, from the rows the write path keeps (mbc_schedule,
-- clinical/outcomes/schedule-sql.ts), rather than every plan's JSON parsed at every request.
plan_acts AS (
  SELECT sp.id, sp.pid, sp.code, sp.start_at, sp.end_at, sp.step_s
  FROM (SELECT s.plan_id AS id, s.pid, s.code, s.start_at, s.end_at, s.step_s FROM mbc_schedule s${joinCohort('s.pid')}
        WHERE s.tenant = $1${programPlans ? ` AND s.plan_id IN (${programPlans})` : ''}) sp
  WHERE ${visible('CarePlan', 'sp')}
),
acts AS (
  SELECT pa.id COLLATE "C" AS pid, pa.code, pa.start_at, pa.end_at, pa.step_s
  FROM (SELECT pid AS id, code, start_at, end_at, step_s FROM plan_acts) pa WHERE ${visible('Patient', 'pa')}
),
-- Occurrences start + k·step (k ≥ 0) inside [max(start, from), min(end, to)).
expected AS (
  SELECT pid, code, sum(greatest(0,
      ceil(extract(epoch FROM least(coalesce(end_at, 'infinity'::timestamptz), ${to}) - start_at) / step_s)
    - greatest(0, ceil(extract(epoch FROM greatest(start_at, ${from}) - start_at) / step_s))))::int AS expected
  FROM acts GROUP BY pid, code
),
sched AS (
  SELECT e.code, sum(e.expected)::int AS expected, sum(least(e.expected, coalesce(p.n, 0)))::int AS completed
  FROM expected e LEFT JOIN per p ON p.pid = e.pid AND p.code = e.code
  GROUP BY e.code
)
SELECT ru.code,
  (SELECT count(DISTINCT pid) FROM per)::int AS all_patients,
  (SELECT count(DISTINCT pid) FROM per WHERE n >= 2)::int AS all_paired,
  count(p.pid)::int AS patients,
  (count(p.pid) FILTER (WHERE p.n >= 2))::int AS paired,
  (count(p.pid) FILTER (WHERE p.n >= 2 AND p.baseline > 0 AND p.baseline - p.latest >= p.baseline * ${half}))::int AS responders,
  (count(p.pid) FILTER (WHERE p.n >= 2 AND p.latest < ru.remit))::int AS remitted,
  (count(p.pid) FILTER (WHERE p.n >= 2 AND p.baseline - p.latest >= ru.rc))::int AS reliable,
  (percentile_cont(0.5) WITHIN GROUP (ORDER BY (p.latest - p.baseline)::float8) FILTER (WHERE p.n >= 2))::float8 AS median_change,
  coalesce(s.expected, 0)::int AS expected, coalesce(s.completed, 0)::int AS completed
FROM rules ru
LEFT JOIN per p ON p.code = ru.code
LEFT JOIN sched s ON s.code = ru.code
GROUP BY ru.code, ru.remit, ru.rc, s.expected, s.completed
ORDER BY array_position(${codes}, ru.code)`;
  return { sql, params: q.params };
}
