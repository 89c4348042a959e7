-- Core storage. Every table leads with `tenant` in its keys and indexes so no query crosses
-- tenants and the schema can later be distributed by tenant (Citus) without a redesign.

CREATE TABLE tenant (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The current version of each resource. A delete leaves a tombstone (deleted = true, content '').
CREATE TABLE resource (
  tenant text NOT NULL,
  type text NOT NULL,
  id text NOT NULL,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content text NOT NULL,
  PRIMARY KEY (tenant, type, id)
);
CREATE INDEX resource_last_updated ON resource (tenant, type, last_updated);

-- Every version ever written, including the current one and deletes.
CREATE TABLE resource_history (
  tenant text NOT NULL,
  type text NOT NULL,
  id text NOT NULL,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  method text NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (tenant, type, id, version)
);
CREATE INDEX resource_history_system ON resource_history (tenant, last_updated);
CREATE INDEX resource_history_type ON resource_history (tenant, type, last_updated);

-- Search indexes: rows exist only for current, non-deleted versions. `param` is the search
-- parameter code (composite components as code#i, grouped by grp). Each table has one index for
-- lookups by value and one by resource (replace on update, :missing, sort, joins).
CREATE TABLE idx_token (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  system text, code text, text text
);
CREATE INDEX idx_token_value ON idx_token (tenant, rtype, param, code, system);
CREATE INDEX idx_token_resource ON idx_token (tenant, rtype, rid, param);

CREATE TABLE idx_string (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  norm text NOT NULL, exact text NOT NULL
);
CREATE INDEX idx_string_value ON idx_string (tenant, rtype, param, norm text_pattern_ops);
CREATE INDEX idx_string_resource ON idx_string (tenant, rtype, rid, param);

CREATE TABLE idx_date (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  low timestamptz NOT NULL, high timestamptz NOT NULL
);
CREATE INDEX idx_date_value ON idx_date (tenant, rtype, param, low, high);
CREATE INDEX idx_date_resource ON idx_date (tenant, rtype, rid, param);

CREATE TABLE idx_number (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  low numeric, high numeric
);
CREATE INDEX idx_number_value ON idx_number (tenant, rtype, param, low);
CREATE INDEX idx_number_resource ON idx_number (tenant, rtype, rid, param);

CREATE TABLE idx_quantity (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  low numeric, high numeric, system text, code text, unit text,
  canon_code text, canon_low numeric, canon_high numeric
);
CREATE INDEX idx_quantity_value ON idx_quantity (tenant, rtype, param, low);
CREATE INDEX idx_quantity_resource ON idx_quantity (tenant, rtype, rid, param);

CREATE TABLE idx_reference (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  target_type text, target_id text, url text
);
CREATE INDEX idx_reference_value ON idx_reference (tenant, rtype, param, target_id, target_type);
CREATE INDEX idx_reference_resource ON idx_reference (tenant, rtype, rid, param);
CREATE INDEX idx_reference_url ON idx_reference (tenant, rtype, param, url) WHERE url IS NOT NULL;

CREATE TABLE idx_uri (
  tenant text NOT NULL, rtype text NOT NULL, rid text NOT NULL, param text NOT NULL, grp smallint,
  value text NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (tenant, rtype, param, value text_pattern_ops);
CREATE INDEX idx_uri_resource ON idx_uri (tenant, rtype, rid, param);
