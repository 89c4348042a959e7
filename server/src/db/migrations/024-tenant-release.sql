-- Which release of the content the server ships into every tenant (platform profiles, the
-- instruments, the crisis-risk defaults) each tenant has been given: per tenant and part, the
-- digest of the shipped content last installed there (clinical/releases.ts). A start installs a
-- part only into the tenants whose digest differs from what this release ships: one query per
-- part whatever the number of tenants, instead of reading every shipped resource back from every
-- tenant at every start (60–90 ms a tenant on PostgreSQL, before the first answer).
CREATE TABLE tenant_release (
  tenant text NOT NULL REFERENCES tenant (id),
  part text NOT NULL,
  digest text NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, part)
);
