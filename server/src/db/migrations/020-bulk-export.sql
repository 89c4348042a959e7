-- FHIR Bulk Data Access 2.0 $export jobs (server/src/bulk/README.md). One row a kick-off, claimed
-- by a background worker with FOR UPDATE SKIP LOCKED; `lease_until` (database time) lets another
-- process take over a job whose worker died; `progress` is the resume point (type, last id,
-- bytes written), so a job interrupted by a restart continues where its last page ended.
-- JSON is kept as text: the same on pg and PGlite, read back with JSON.parse.
CREATE TABLE bulk_export_job (
  tenant text NOT NULL,
  id text NOT NULL,
  -- The requester's AccessContext: the export runs under its policy, files are served to it only.
  requester text NOT NULL,
  -- The parsed kick-off (level, types, _since, _typeFilter, patients, the request URL).
  request text NOT NULL,
  -- accepted | in-progress | completed | failed
  status text NOT NULL,
  progress text NOT NULL DEFAULT '{}',
  output text NOT NULL DEFAULT '[]',
  error text,
  transaction_time timestamptz NOT NULL,
  created timestamptz NOT NULL,
  completed timestamptz,
  lease_until timestamptz,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX bulk_export_job_due ON bulk_export_job (status, created);
