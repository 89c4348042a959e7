import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';

/**
 * EHR launch contexts (table launch_context, migration 003): the EHR creates an opaque launch id
 * bound to a patient (and encounter); the app passes it back to /authorize as `launch`.
 * Random (24 bytes), single tenant, valid for 5 minutes: long enough to log in, short enough
 * that a leaked launch URL is soon useless (it carries no rights by itself anyway).
 */
export const LAUNCH_SECONDS = 300;

export interface LaunchContext {
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
}

export async function createLaunchContext(
  db: Queryable,
  input: { tenant: string; patient?: string; encounter?: string; fhirContext?: unknown[]; needPatientBanner?: boolean; createdBy: string }
): Promise<string> {
  // Housekeeping: launch contexts are useless once expired; keep an hour for troubleshooting.
  await db.query(`DELETE FROM launch_context WHERE expires_at < now() - interval '1 hour'`);
  const id = randomBytes(24).toString('base64url');
  const context: LaunchContext = {};
  if (input.patient) context.patient = input.patient;
  if (input.encounter) context.encounter = input.encounter;
  if (input.fhirContext) context.fhirContext = input.fhirContext;
  if (input.needPatientBanner !== undefined) context.need_patient_banner = input.needPatientBanner;
  await db.query(
    `INSERT INTO launch_context (tenant, id, context, created_by, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [input.tenant, id, JSON.stringify(context), input.createdBy, LAUNCH_SECONDS]
  );
  return id;
}

export async function loadLaunchContext(db: Queryable, tenant: string, id: string): Promise<LaunchContext | undefined> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) return undefined;
  const r = await db.query<{ context: LaunchContext | string }>(
    'SELECT context FROM launch_context WHERE id = $1 AND tenant = $2 AND expires_at > now()',
    [id, tenant]
  );
  const c = r.rows[0]?.context;
  return c === undefined ? undefined : typeof c === 'string' ? (JSON.parse(c) as LaunchContext) : c;
}
