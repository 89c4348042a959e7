-- AuditEvents move to a table of their own (server/src/store/audit-table.ts, server/src/audit/README.md):
-- one append-only row per event with its searchable values inline, instead of a `resource` row
-- plus ~10 rows in the idx_* tables. Existing events are moved here with their keys rebuilt from
-- their index rows; their chain rows (audit_chain, 006) stay as they are, so `audit verify` still
-- walks one unbroken chain.

-- `type`, `version` and `deleted` are constant: they let the statements written for `resource`
-- rows (read, vread, history, search pages) run over this table unchanged.
CREATE TABLE audit_event (
  tenant text NOT NULL,
  id text NOT NULL,
  type text NOT NULL DEFAULT 'AuditEvent' CHECK (type = 'AuditEvent'),
  version integer NOT NULL DEFAULT 1 CHECK (version = 1),
  deleted boolean NOT NULL DEFAULT false CHECK (NOT deleted),
  -- AuditEvent.recorded as [low, high) at its precision (the `date` search parameter).
  recorded timestamptz NOT NULL,
  recorded_high timestamptz NOT NULL,
  last_updated timestamptz NOT NULL,
  -- Every other searchable value as 'param<US>value' (store/audit-table.ts).
  keys text[] NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX audit_event_recorded ON audit_event (tenant, recorded);
CREATE INDEX audit_event_last_updated ON audit_event (tenant, last_updated);
-- GIN's pending list makes an insert cheap: entries are merged into the tree in bulk.
CREATE INDEX audit_event_keys ON audit_event USING gin (keys);

-- The key encoding of store/audit-table.ts, for the move below only.
CREATE FUNCTION pg_temp.audit_key(p text, v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN octet_length(p || chr(31) || v) <= 512 THEN p || chr(31) || v ELSE p || chr(31) || chr(29) || md5(v) END
$$;

INSERT INTO audit_event (tenant, id, recorded, recorded_high, last_updated, keys, content)
SELECT r.tenant, r.id,
       coalesce(d.low, r.last_updated), coalesce(d.high, r.last_updated + interval '1 millisecond'),
       r.last_updated, coalesce(k.keys, '{}'), r.content
FROM resource r
LEFT JOIN LATERAL (
  SELECT min(x.low) AS low, max(x.high) AS high FROM idx_date x
  WHERE x.tenant = r.tenant AND x.rtype = 'AuditEvent' AND x.rid = r.id AND x.param = 'date'
) d ON true
LEFT JOIN LATERAL (
  SELECT array_agg(DISTINCT s.k) AS keys FROM (
    SELECT pg_temp.audit_key(t.param, coalesce(coalesce(t.system_full, t.system), '') || chr(31) || coalesce(t.code_full, t.code)) AS k
      FROM idx_token t WHERE t.tenant = r.tenant AND t.rtype = 'AuditEvent' AND t.rid = r.id AND t.code IS NOT NULL
    UNION ALL
    SELECT pg_temp.audit_key(t.param, chr(30) || chr(31) || coalesce(t.code_full, t.code))
      FROM idx_token t WHERE t.tenant = r.tenant AND t.rtype = 'AuditEvent' AND t.rid = r.id AND t.code IS NOT NULL
    UNION ALL
    SELECT pg_temp.audit_key(x.param, CASE WHEN x.target_id IS NOT NULL THEN x.target_type || '/' || x.target_id ELSE coalesce(x.url_full, x.url) END)
      FROM idx_reference x WHERE x.tenant = r.tenant AND x.rtype = 'AuditEvent' AND x.rid = r.id
  ) s WHERE s.k IS NOT NULL
) k ON true
WHERE r.type = 'AuditEvent' AND NOT r.deleted;

-- From here on, inserting an AuditEvent enters it into the chain: one set-based INSERT per
-- statement (a transition table), not a plpgsql call per row.
CREATE FUNCTION audit_event_chain_enter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_chain (tenant, id) SELECT n.tenant, n.id FROM new_events n;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_event_chain AFTER INSERT ON audit_event
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION audit_event_chain_enter();

-- Append-only, as the rows in `resource` were (006): nobody may change, remove or truncate them.
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- The old copies go, and `resource` no longer takes AuditEvents at all.
DROP TRIGGER resource_audit_chain ON resource;
DROP FUNCTION audit_chain_enter();
DROP TRIGGER resource_audit_append_only ON resource;
DROP TRIGGER resource_history_audit_append_only ON resource_history;
DELETE FROM idx_token WHERE rtype = 'AuditEvent';
DELETE FROM idx_string WHERE rtype = 'AuditEvent';
DELETE FROM idx_date WHERE rtype = 'AuditEvent';
DELETE FROM idx_number WHERE rtype = 'AuditEvent';
DELETE FROM idx_quantity WHERE rtype = 'AuditEvent';
DELETE FROM idx_reference WHERE rtype = 'AuditEvent';
DELETE FROM idx_uri WHERE rtype = 'AuditEvent';
DELETE FROM resource_history WHERE type = 'AuditEvent';
DELETE FROM resource WHERE type = 'AuditEvent';
ALTER TABLE resource ADD CONSTRAINT resource_not_audit_event CHECK (type <> 'AuditEvent');
ALTER TABLE resource_history ADD CONSTRAINT resource_history_not_audit_event CHECK (type <> 'AuditEvent');
