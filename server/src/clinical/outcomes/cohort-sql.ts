import type { AccessPolicy } from '../../access/policy.ts';
import { compileConstraint } from '../../store/search/compile.ts';
import { Sql } from '../../store/search/sql.ts';
import { tokenCondition } from '../../store/search/sql-token.ts';
import { LOINC } from '../codes.ts';
import { COUNTED_STATUSES, RESPONSE_REDUCTION, RULES } from './definitions.ts';

/**
 * The cohort report as ONE SQL statement over the search-index tables (db/migrations/001-core.sql):
 * scored totals are found by code (idx_token 'code'), status (idx_token 'status'), subject
 * (idx_reference 'subject'), time (idx_date 'date', the low bound of effective[x]) and value
 * (idx_quantity 'value-quantity'); nothing is loaded into JavaScript. Only the CarePlans of the
 * cohort are read as jsonb, for their activities' scheduledTiming, which no search parameter indexes.
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

/** UCUM definite durations in seconds (mo = a_j/12 = 30.4375 d; a = a_j = 365.25 d). */
const UNIT_SECONDS = `CASE u WHEN 's' THEN 1 WHEN 'min' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400
  WHEN 'wk' THEN 604800 WHEN 'mo' THEN 2629800 WHEN 'a' THEN 31557600 END`;

/**
 * A FHIR date or dateTime string as the instant its period starts / ends, read as UTC when it has
 * no zone (as the date index does, store/date-range.ts); a date-only end covers its whole day.
 * Year and year-month precision are not expected in a schedule's bounds and count from their start.
 */
const startOf = (e: string) => `(CASE WHEN length(${e}) = 10 THEN (${e} || 'T00:00:00Z')::timestamptz ELSE (${e})::timestamptz END)`;
const endOf = (e: string) => `(CASE WHEN length(${e}) = 10 THEN (${e} || 'T00:00:00Z')::timestamptz + interval '1 day' ELSE (${e})::timestamptz END)`;

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
  const panels = q.p(RULES.map((r) => r.panelCode), 'text[]');
  const statuses = q.p([...COUNTED_STATUSES], 'text[]');
  const from = q.p(f.from, 'timestamptz');
  const to = q.p(f.to, 'timestamptz');
  const loinc = q.p(LOINC);
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
rules AS (SELECT * FROM unnest(${codes}, ${remit}, ${rc}, ${panels}) AS u(code, remit, rc, panel)),
-- Each index slice (code, subject, date, value) is scanned once and the slices are hash-joined
-- on rid (the caller runs this with nested loops, merge joins and JIT off, see cohort.ts): a
-- cohort is 100,000s of scores, for which per-row index probes cost several times more. Ids are
-- compared in the "C" collation: they are ASCII, and byte order hashes and sorts them faster.
code_s AS (SELECT rid COLLATE "C" AS rid, code FROM idx_token
  WHERE tenant = $1 AND rtype = 'Observation' AND param = 'code' AND system = ${loinc} AND code = ANY(${codes})),
-- Statuses that do NOT count are few (preliminary, entered-in-error …): exclude those, rather
-- than join every Observation's status.
uncounted_s AS MATERIALIZED (SELECT rid COLLATE "C" AS rid FROM idx_token
  WHERE tenant = $1 AND rtype = 'Observation' AND param = 'status' AND NOT (code = ANY(${statuses}))),
subject_s AS (SELECT rid COLLATE "C" AS rid, target_id COLLATE "C" AS target_id FROM idx_reference
  WHERE tenant = $1 AND rtype = 'Observation' AND param = 'subject' AND target_type = 'Patient'),
date_s AS (SELECT rid COLLATE "C" AS rid, low FROM idx_date
  WHERE tenant = $1 AND rtype = 'Observation' AND param = 'date' AND low >= ${from} AND low < ${to}),
value_s AS (SELECT rid COLLATE "C" AS rid, low FROM idx_quantity
  WHERE tenant = $1 AND rtype = 'Observation' AND param = 'value-quantity'),
obs AS (
  SELECT c.rid AS id, c.code, r.target_id AS pid, d.low AS at, v.low AS value
  FROM code_s c
  JOIN subject_s r ON r.rid = c.rid
  JOIN date_s d ON d.rid = c.rid
  JOIN value_s v ON v.rid = c.rid${joinCohort('r.target_id')}
  WHERE NOT EXISTS (SELECT 1 FROM uncounted_s u WHERE u.rid = c.rid)
),
-- Baseline and latest as min/max of [epoch, value] pairs: plain aggregates, hashed, with no sort
-- of 100,000s of rows (two scores at the same instant resolve to the lower value).
per_all AS MATERIALIZED (
  SELECT o.pid AS id, o.code, count(*)::int AS n,
    (min(ARRAY[extract(epoch FROM o.at)::numeric, o.value]))[2] AS baseline,
    (max(ARRAY[extract(epoch FROM o.at)::numeric, o.value]))[2] AS latest
  FROM obs o WHERE ${visible('Observation', 'o')}
  GROUP BY o.pid, o.code
),
-- The patient's own visibility, once per patient and instrument rather than once per score.
per AS (SELECT pa.id AS pid, pa.code, pa.n, pa.baseline, pa.latest FROM per_all pa WHERE ${visible('Patient', 'pa')}),
plan_rows AS (
  SELECT r.target_id AS pid, p.content
  FROM resource p
  JOIN idx_reference r ON r.tenant = $1 AND r.rtype = 'CarePlan' AND r.rid = p.id AND r.param = 'subject' AND r.target_type = 'Patient'${joinCohort('r.target_id')}
  WHERE p.tenant = $1 AND p.type = 'CarePlan' AND NOT p.deleted${programPlans ? ` AND p.id IN (${programPlans})` : ''}
    AND ${visible('CarePlan', 'p')}
),
-- Materialized so each plan's JSON is parsed once, not once per expression that reads it.
plans AS MATERIALIZED (
  SELECT pp.id AS pid, pp.content::jsonb AS j FROM (SELECT pid AS id, content FROM plan_rows) pp WHERE ${visible('Patient', 'pp')}
),
acts AS (
  SELECT pl.pid, ru.code, x.start_at, x.end_at, x.step_s
  FROM plans pl
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(pl.j->'activity', '[]'::jsonb)) AS a(act)
  JOIN rules ru ON EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(a.act#>'{detail,code,coding}', '[]'::jsonb)) AS cd(c)
                           WHERE cd.c->>'system' = ${loinc} AND cd.c->>'code' = ru.panel)
  CROSS JOIN LATERAL (SELECT
      (SELECT ${startOf('b')} FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,start}', pl.j#>>'{period,start}') AS b) y) AS start_at,
      (SELECT ${endOf('e')} FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,end}', pl.j#>>'{period,end}') AS e) z) AS end_at,
      (SELECT (a.act#>>'{detail,scheduledTiming,repeat,period}')::numeric * (${UNIT_SECONDS})
              / coalesce((a.act#>>'{detail,scheduledTiming,repeat,frequency}')::numeric, 1)
       FROM (SELECT a.act#>>'{detail,scheduledTiming,repeat,periodUnit}' AS u) w) AS step_s) x
  WHERE a.act#>>'{detail,status}' IN ('scheduled', 'in-progress') AND coalesce(pl.j->>'status', '') NOT IN ('draft', 'entered-in-error')
    AND x.start_at IS NOT NULL AND x.step_s > 0
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
