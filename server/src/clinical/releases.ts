import { createHash } from 'node:crypto';
import type { Database } from '../db/database.ts';

/**
 * What the server ships into every tenant (platform profiles, instruments, crisis-risk defaults)
 * is installed at each start into the tenants that have not had this release of it yet
 * (`tenant_release`, db/migrations/024-tenant-release.sql), not checked again in every tenant at
 * every start: that check read every shipped resource back from each tenant, 60–90 ms a tenant on
 * PostgreSQL before the first answer, so a server of 100 clinics took seconds more to start.
 *
 * A release of a part is the digest of its shipped content and of INSTALL_FORMAT: a changed file
 * (a new profile, an instrument's new version, an edited one that must stop the start) is a new
 * release and is installed, or refused, in every tenant again. A tenant is recorded only after
 * its install succeeded; one that failed is tried again at the next start. A tenant created
 * since the last start (tenant/tenants.ts installs into it) is checked once more at the next.
 */

/** Bumped when what an install does changes, so that every tenant gets it once more. */
const INSTALL_FORMAT = 1;

export type ReleasePart = 'profiles' | 'instruments' | 'risk-defaults';

/** The release of `part` that `shipped` (its shipped content, JSON) makes. */
export function releaseOf(part: ReleasePart, shipped: unknown): string {
  return createHash('sha256').update(JSON.stringify([part, INSTALL_FORMAT, shipped])).digest('hex');
}

/** The tenants that have not been given this release of `part`, in id order. */
export async function tenantsWithout(db: Database, part: ReleasePart, release: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT t.id FROM tenant t LEFT JOIN tenant_release r ON r.tenant = t.id AND r.part = $1
     WHERE r.digest IS DISTINCT FROM $2 ORDER BY t.id`,
    [part, release]
  );
  return rows.map((r) => r.id);
}

/** Records that `tenant` now has this release of `part`. */
export async function recordRelease(db: Database, tenant: string, part: ReleasePart, release: string): Promise<void> {
  await db.query(
    `INSERT INTO tenant_release (tenant, part, digest) VALUES ($1, $2, $3)
     ON CONFLICT (tenant, part) DO UPDATE SET digest = EXCLUDED.digest, installed_at = now()`,
    [tenant, part, release]
  );
}

/**
 * Runs `install` in each tenant without this release of `part`, one tenant at a time, recording
 * each one after its install succeeded. The first failure stops the start (the caller's error).
 */
export async function installRelease(db: Database, part: ReleasePart, shipped: unknown, install: (tenant: string) => Promise<void>): Promise<void> {
  const release = releaseOf(part, shipped);
  for (const tenant of await tenantsWithout(db, part, release)) {
    await install(tenant);
    await recordRelease(db, tenant, part, release);
  }
}
