/**
 * The scheduled assessments of one CarePlan, as SQL over its JSON (`planJson`, a jsonb
 * expression): one row per activity in the codes.ts shape and instrument whose panel code it
 * carries — (code, start_at, end_at, step_s), the instrument's total code, the first occurrence,
 * the end of the schedule (NULL: open) and the step between occurrences in seconds. Written into
 * mbc_schedule by the outcomes write hook (./hook.ts) and by migration 022 for existing plans;
 * the cohort report (./cohort-sql.ts) counts the occurrences inside its window from those rows.
 *
 * Only what the plan itself says decides a row: the activity's status (scheduled | in-progress),
 * the plan's status (not draft or entered-in-error), a start (the activity's boundsPeriod, else
 * the plan's period) and a positive step.
 */

/** UCUM definite durations in seconds (mo = a_j/12 = 30.4375 d; a = a_j = 365.25 d). */
const UNIT_SECONDS = `CASE u WHEN 's' THEN 1 WHEN 'min' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400
  WHEN 'wk' THEN 604800 WHEN 'mo' THEN 2629800 WHEN 'a' THEN 31557600 END`;

/**
 * A FHIR date or dateTime string as the instant its period starts / ends, read as UTC when it has
 * no zone (as the date index does, store/date-range.ts): a date, year-month or year end covers
 * that whole day, month or year. (Before these rows were written ahead, a year or year-month
 * bound made the whole cohort report fail: PostgreSQL cannot cast '2025-01' to an instant.)
 */
const startOf = (e: string) =>
  `(CASE length(${e}) WHEN 4 THEN (${e} || '-01-01T00:00:00Z')::timestamptz WHEN 7 THEN (${e} || '-01T00:00:00Z')::timestamptz
    WHEN 10 THEN (${e} || 'T00:00:00Z')::timestamptz ELSE (${e})::timestamptz END)`;
const endOf = (e: string) =>
  `(CASE length(${e}) WHEN 4 THEN (${e} || '-01-01T00:00:00Z')::timestamptz + interval '1 year'
    WHEN 7 THEN (${e} || '-01T00:00:00Z')::timestamptz + interval '1 month'
    WHEN 10 THEN (${e} || 'T00:00:00Z')::timestamptz + interval '1 day' ELSE (${e})::timestamptz END)`;

/**
 * `planJson`: a jsonb expression; `loinc`, `codes`, `panels`: SQL for the LOINC system (text)
 * and the instruments' total and panel codes (text[], same order).
 */
export function planSchedulesSql(planJson: string, loinc: string, codes: string, panels: string): string {
  return `SELECT ru.code, x.start_at, x.end_at, x.step_s
  FROM (SELECT ${planJson} AS j) pl
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(pl.j->'activity', '[]'::jsonb)) AS a(act)
  JOIN unnest(${codes}, ${panels}) AS ru(code, panel)
    ON EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(a.act#>'{detail,code,coding}', '[]'::jsonb)) AS cd(c)
               WHERE cd.c->>'system' = ${loinc} AND cd.c->>'code' = ru.panel)
  CROSS JOIN LATERAL (SELECT
      (SELECT ${startOf('b')} FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,start}', pl.j#>>'{period,start}') AS b) y) AS start_at,
      (SELECT ${endOf('e')} FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,end}', pl.j#>>'{period,end}') AS e) z) AS end_at,
      (SELECT (a.act#>>'{detail,scheduledTiming,repeat,period}')::numeric * (${UNIT_SECONDS})
              / coalesce((a.act#>>'{detail,scheduledTiming,repeat,frequency}')::numeric, 1)
       FROM (SELECT a.act#>>'{detail,scheduledTiming,repeat,periodUnit}' AS u) w) AS step_s) x
  WHERE a.act#>>'{detail,status}' IN ('scheduled', 'in-progress') AND coalesce(pl.j->>'status', '') NOT IN ('draft', 'entered-in-error')
    AND x.start_at IS NOT NULL AND x.step_s > 0`;
}
