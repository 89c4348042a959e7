-- Narrow copies of what $mbc-cohort reads (server/src/clinical/outcomes/README section "Outcomes"),
-- kept by the outcomes write hook (clinical/outcomes/hook.ts) in the transaction of every
-- Observation and CarePlan write. At 10,000 patients × 10 scores the report used to join four
-- index-table slices of 100,000 rows and parse 10,000 CarePlans at every request (~25,000 pages,
-- more than shared_buffers); these tables hold the same facts in ~1,500.
--
-- mbc_score: one row per combination of a scored total's index rows for code (an instrument's
-- LOINC total code), subject (a Patient), date (low bound of effective[x]) and value-quantity
-- (low); `statuses`: its status codes (which count is decided at read time).
CREATE TABLE mbc_score (
  tenant text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  pid text,
  at timestamptz NOT NULL,
  value numeric,
  statuses text[] NOT NULL
);
CREATE INDEX mbc_score_window ON mbc_score (tenant, code, at) INCLUDE (pid, value, statuses, id);
CREATE INDEX mbc_score_observation ON mbc_score (tenant, id);

-- mbc_schedule: per CarePlan with a Patient subject, its scheduled assessments
-- (clinical/outcomes/schedule-sql.ts): instrument total code, first occurrence, end (NULL: open),
-- step in seconds.
CREATE TABLE mbc_schedule (
  tenant text NOT NULL,
  plan_id text NOT NULL,
  pid text,
  code text NOT NULL,
  start_at timestamptz NOT NULL,
  end_at timestamptz,
  step_s numeric NOT NULL
);
CREATE INDEX mbc_schedule_plan ON mbc_schedule (tenant, plan_id);

-- Existing data: the same join and the same schedule SQL as the hook (PHQ-9 44261-6 / panel
-- 44249-1, GAD-7 70274-6 / panel 69737-5: clinical/outcomes/definitions.ts RULES).
INSERT INTO mbc_score (tenant, id, code, pid, at, value, statuses)
SELECT c.tenant, c.rid, c.code, r.target_id, d.low, v.low,
  ARRAY(SELECT s.code FROM idx_token s WHERE s.tenant = c.tenant AND s.rtype = 'Observation' AND s.rid = c.rid AND s.param = 'status' AND s.code IS NOT NULL)
FROM idx_token c
JOIN idx_reference r ON r.tenant = c.tenant AND r.rtype = 'Observation' AND r.rid = c.rid AND r.param = 'subject' AND r.target_type = 'Patient'
JOIN idx_date d ON d.tenant = c.tenant AND d.rtype = 'Observation' AND d.rid = c.rid AND d.param = 'date'
JOIN idx_quantity v ON v.tenant = c.tenant AND v.rtype = 'Observation' AND v.rid = c.rid AND v.param = 'value-quantity'
WHERE c.rtype = 'Observation' AND c.param = 'code' AND c.system = 'http://loinc.org' AND c.code IN ('44261-6', '70274-6');

INSERT INTO mbc_schedule (tenant, plan_id, pid, code, start_at, end_at, step_s)
SELECT p.tenant, p.id, r.target_id, x.code, x.start_at, x.end_at, x.step_s
FROM resource p
JOIN idx_reference r ON r.tenant = p.tenant AND r.rtype = 'CarePlan' AND r.rid = p.id AND r.param = 'subject' AND r.target_type = 'Patient'
CROSS JOIN LATERAL (
  SELECT ru.code, x.start_at, x.end_at, x.step_s
  FROM (SELECT p.content::jsonb AS j) pl
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(pl.j->'activity', '[]'::jsonb)) AS a(act)
  JOIN (VALUES ('44261-6', '44249-1'), ('70274-6', '69737-5')) AS ru(code, panel)
    ON EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(a.act#>'{detail,code,coding}', '[]'::jsonb)) AS cd(c)
               WHERE cd.c->>'system' = 'http://loinc.org' AND cd.c->>'code' = ru.panel)
  CROSS JOIN LATERAL (SELECT
      (SELECT (CASE length(b) WHEN 4 THEN (b || '-01-01T00:00:00Z')::timestamptz WHEN 7 THEN (b || '-01T00:00:00Z')::timestamptz
                 WHEN 10 THEN (b || 'T00:00:00Z')::timestamptz ELSE b::timestamptz END)
       FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,start}', pl.j#>>'{period,start}') AS b) y) AS start_at,
      (SELECT (CASE length(e) WHEN 4 THEN (e || '-01-01T00:00:00Z')::timestamptz + interval '1 year'
                 WHEN 7 THEN (e || '-01T00:00:00Z')::timestamptz + interval '1 month'
                 WHEN 10 THEN (e || 'T00:00:00Z')::timestamptz + interval '1 day' ELSE e::timestamptz END)
       FROM (SELECT coalesce(a.act#>>'{detail,scheduledTiming,repeat,boundsPeriod,end}', pl.j#>>'{period,end}') AS e) z) AS end_at,
      (SELECT (a.act#>>'{detail,scheduledTiming,repeat,period}')::numeric
              * (CASE u WHEN 's' THEN 1 WHEN 'min' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400
                   WHEN 'wk' THEN 604800 WHEN 'mo' THEN 2629800 WHEN 'a' THEN 31557600 END)
              / coalesce((a.act#>>'{detail,scheduledTiming,repeat,frequency}')::numeric, 1)
       FROM (SELECT a.act#>>'{detail,scheduledTiming,repeat,periodUnit}' AS u) w) AS step_s) x
  WHERE a.act#>>'{detail,status}' IN ('scheduled', 'in-progress') AND coalesce(pl.j->>'status', '') NOT IN ('draft', 'entered-in-error')
    AND x.start_at IS NOT NULL AND x.step_s > 0
) x
-- Only a plan whose text names a panel code can have a row: the others are not parsed.
WHERE p.type = 'CarePlan' AND NOT p.deleted AND (p.content LIKE '%44249-1%' OR p.content LIKE '%69737-5%');
