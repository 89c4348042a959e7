import type { Queryable } from '../db/database.ts';
import { loadInstruments } from '../clinical/instruments/index.ts';
import { installProfiles } from '../clinical/profiles/install.ts';
import { installRiskDefaults } from '../clinical/risk/install.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';

/**
 * Tenants: a clinic or organization. Every row of every table belongs to exactly one tenant
 * (see /work/shared/DESIGN.md). Tenants are created by an administrator (CLI), never through FHIR.
 */
export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
}

/** Same alphabet and length as a FHIR id, so a tenant id is safe in URLs, logs and file names. */
export const TENANT_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export async function createTenant(db: Queryable, input: { id: string; name?: string }): Promise<Tenant> {
  if (!TENANT_ID.test(input.id)) {
    fail('invalid', `Tenant id "${input.id}" must be 1-64 characters of A-Z, a-z, 0-9, "-" or "."`);
  }
  const name = (input.name ?? input.id).trim();
  if (!name) fail('invalid', 'Tenant name must not be empty');
  const r = await db.query<{ created_at: string }>(
    'INSERT INTO tenant (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING created_at::text',
    [input.id, name]
  );
  if (r.rows.length === 0) fail('conflict', `Tenant "${input.id}" already exists`);
  // Every tenant starts with the platform's profiles (profiles/README.md). The CLI creates
  // tenants without a running server, so the FHIR definitions may not be loaded yet.
  loadDefinitions();
  await installProfiles(db, input.id);
  // ... and the shipped instruments (questionnaires/README.md).
  await loadInstruments(db, input.id);
  // ... and the crisis-risk rule set and crisis resources (clinical/risk/README.md).
  await installRiskDefaults(db, input.id);
  return { id: input.id, name, createdAt: r.rows[0].created_at };
}

export async function getTenant(db: Queryable, id: string): Promise<Tenant | undefined> {
  const r = await db.query<{ id: string; name: string; created_at: string }>(
    'SELECT id, name, created_at::text FROM tenant WHERE id = $1',
    [id]
  );
  const row = r.rows[0];
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

export async function listTenants(db: Queryable): Promise<Tenant[]> {
  const r = await db.query<{ id: string; name: string; created_at: string }>(
    'SELECT id, name, created_at::text FROM tenant ORDER BY id'
  );
  return r.rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
}
