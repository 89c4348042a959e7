import type { AccessContext } from '../access/context.ts';
import type { DisclosedFile } from '../audit/disclosure.ts';
import type { Queryable } from '../db/database.ts';
import type { ExportRequest } from './request.ts';

/**
 * $export jobs as durable rows (migration 020-bulk-export.sql). A job is `accepted` at kick-off,
 * `in-progress` while a worker holds its lease, then `completed` or `failed`; a cancelled job is
 * deleted with its files (the status URL then answers 404, as the spec asks). Every statement is
 * tenant-first.
 */
export type JobStatus = 'accepted' | 'in-progress' | 'completed' | 'failed';

export interface OutputFile {
  type: string;
  /** File name inside the job's folder, e.g. `Observation.ndjson`. */
  file: string;
  count: number;
  /** Part 2-labelled resources in it that carry the §2.32 notice (external requesters only). */
  noticed: number;
  /**
   * For a requester whose reads are disclosures (access/accounting.ts `isDisclosure`): the
   * resources and patients the file carries (./file-disclosure.ts), recorded at each download.
   * Never in the manifest.
   */
  disclosed?: DisclosedFile;
}

/** Where a job stands: the next type to write, and within it the last id and byte written. */
export interface Progress {
  typeIndex: number;
  after?: string;
  bytes: number;
  count: number;
  noticed: number;
}

export interface Job {
  tenant: string;
  id: string;
  requester: AccessContext;
  request: ExportRequest;
  status: JobStatus;
  progress: Progress;
  output: OutputFile[];
  error?: string;
  transactionTime: string;
  completed?: string;
}

interface Row {
  tenant: string;
  id: string;
  requester: string;
  request: string;
  status: JobStatus;
  progress: string;
  output: string;
  error: string | null;
  transaction_time: Date | string;
  completed: Date | string | null;
}

const COLUMNS = 'tenant, id, requester, request, status, progress, output, error, transaction_time, completed';
const iso = (d: Date | string): string => new Date(d).toISOString();

function toJob(r: Row): Job {
  return {
    tenant: r.tenant,
    id: r.id,
    requester: JSON.parse(r.requester) as AccessContext,
    request: JSON.parse(r.request) as ExportRequest,
    status: r.status,
    progress: { typeIndex: 0, bytes: 0, count: 0, noticed: 0, ...(JSON.parse(r.progress) as Partial<Progress>) },
    output: JSON.parse(r.output) as OutputFile[],
    error: r.error ?? undefined,
    transactionTime: iso(r.transaction_time),
    completed: r.completed ? iso(r.completed) : undefined,
  };
}

export async function insertJob(db: Queryable, job: { tenant: string; id: string; requester: AccessContext; request: ExportRequest; transactionTime: string }): Promise<void> {
  await db.query(
    `INSERT INTO bulk_export_job (tenant, id, requester, request, status, transaction_time, created) VALUES ($1, $2, $3, $4, 'accepted', $5, $5)`,
    [job.tenant, job.id, JSON.stringify(job.requester), JSON.stringify(job.request), job.transactionTime]
  );
}

export async function getJob(db: Queryable, tenant: string, id: string): Promise<Job | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM bulk_export_job WHERE tenant = $1 AND id = $2`, [tenant, id]);
  return rows[0] ? toJob(rows[0]) : undefined;
}

/** A lease a worker renews with every page; a job whose lease ran out (its process died) is taken over. */
export const LEASE_SECONDS = 30;

/**
 * Claims up to `limit` jobs that wait or whose worker's lease ran out. SKIP LOCKED: processes
 * claiming at the same moment take different jobs and never wait for each other.
 */
export async function claimJobs(db: Queryable, limit: number): Promise<Job[]> {
  const { rows } = await db.query<Row>(
    `UPDATE bulk_export_job SET status = 'in-progress', lease_until = now() + make_interval(secs => $1)
     WHERE (tenant, id) IN (
       SELECT tenant, id FROM bulk_export_job
       WHERE status = 'accepted' OR (status = 'in-progress' AND lease_until < now())
       ORDER BY created LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING ${COLUMNS}`,
    [LEASE_SECONDS, limit]
  );
  return rows.map(toJob);
}

/**
 * Records a page written and renews the lease. False when the job is gone (cancelled: DELETE on
 * the status URL removed the row) — the worker then stops and removes its files.
 */
export async function saveProgress(db: Queryable, job: Job, progress: Progress, output: OutputFile[]): Promise<boolean> {
  const r = await db.query(
    `UPDATE bulk_export_job SET progress = $3, output = $4, lease_until = now() + make_interval(secs => $5)
     WHERE tenant = $1 AND id = $2 AND status = 'in-progress'`,
    [job.tenant, job.id, JSON.stringify(progress), JSON.stringify(output), LEASE_SECONDS]
  );
  return r.rowCount > 0;
}

export async function finishJob(db: Queryable, job: Job, status: 'completed' | 'failed', output: OutputFile[], completed: string, error?: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE bulk_export_job SET status = $3, output = $4, error = $5, completed = $6, lease_until = NULL
     WHERE tenant = $1 AND id = $2 AND status = 'in-progress'`,
    [job.tenant, job.id, status, JSON.stringify(output), error ?? null, completed]
  );
  return r.rowCount > 0;
}

/** A process that stops hands its jobs back at once (their progress kept), rather than after the lease. */
export async function releaseJob(db: Queryable, job: Job): Promise<void> {
  await db.query(`UPDATE bulk_export_job SET status = 'accepted', lease_until = NULL WHERE tenant = $1 AND id = $2 AND status = 'in-progress'`, [job.tenant, job.id]);
}

export async function deleteJob(db: Queryable, tenant: string, id: string): Promise<boolean> {
  const r = await db.query(`DELETE FROM bulk_export_job WHERE tenant = $1 AND id = $2`, [tenant, id]);
  return r.rowCount > 0;
}

/** Finished jobs past their retention (compared with the server clock, which tests move). */
export async function expiredJobs(db: Queryable, before: string, limit = 100): Promise<{ tenant: string; id: string }[]> {
  const { rows } = await db.query<{ tenant: string; id: string }>(
    `SELECT tenant, id FROM bulk_export_job WHERE status IN ('completed', 'failed') AND completed < $1 ORDER BY completed LIMIT $2`,
    [before, limit]
  );
  return rows;
}
