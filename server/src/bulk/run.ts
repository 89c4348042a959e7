import type { Resource } from '@medplum/fhirtypes';
import { isExternal } from '../access/disclosure.ts';
import { currentPrincipal } from '../access/person.ts';
import { policyFor } from '../access/policy.ts';
import type { BackgroundDeps } from '../background.ts';
import { isPart2, withRedisclosureNotice } from '../clinical/part2/notice.ts';
import { parseJson, stringifyJson } from '../kernel/json.ts';
import { type ExportEnv, exportPage } from '../store/search/export.ts';
import { ERROR_FILE, fileName, jobDir, openAt, removeFile, removeJobFiles } from './files.ts';
import { type Job, type OutputFile, type Progress, finishJob, saveProgress } from './jobs.ts';

/**
 * Runs one claimed job: for each type, keyset pages of (id, content) straight from the database
 * (store/search/export.ts: filters and the requester's access in the SQL) appended to the type's
 * NDJSON file. Memory holds one page at most, whatever the size of the tenant. After each page the
 * resume point (last id, bytes written) is saved with the lease, so a job stopped by a restart
 * continues from its last saved page: the file is cut back to the saved size and the next page
 * starts after the saved id.
 *
 * The requester's policy is built from its stored context with its account as it is now
 * (access/person.ts), so a user disabled mid-export stops getting data.
 */
export const DEFAULT_PAGE_SIZE = 1000;

export type RunResult = 'completed' | 'cancelled' | 'stopped' | 'failed';

export async function runJob(deps: BackgroundDeps & { pageSize?: number }, job: Job, signal: AbortSignal): Promise<RunResult> {
  const { db, config } = deps;
  const dir = jobDir(config.exportDir, job.tenant, job.id);
  const pageSize = deps.pageSize ?? DEFAULT_PAGE_SIZE;
  const access = await policyFor(await currentPrincipal(db, job.requester), db);
  const env: ExportEnv = { tenant: job.tenant, access, fhirBase: deps.fhirBase, lenient: job.request.lenient };
  // §2.32: Part 2 records that leave the treating clinic carry the redisclosure notice.
  const external = isExternal(job.requester);
  const output = job.output.slice();
  let progress: Progress = { ...job.progress };
  const req = job.request;

  if (progress.typeIndex === 0 && progress.count === 0 && req.warnings.length && !output.some((o) => o.file === ERROR_FILE)) {
    const f = await openAt(dir, ERROR_FILE, 0);
    await f.write(stringifyJson({ resourceType: 'OperationOutcome', issue: req.warnings.map((w) => ({ severity: 'warning', code: 'not-supported', diagnostics: w })) }) + '\n');
    await f.close();
    output.push({ type: 'OperationOutcome', file: ERROR_FILE, count: 1, noticed: 0 });
  }

  for (; progress.typeIndex < req.types.length; progress = { typeIndex: progress.typeIndex + 1, bytes: 0, count: 0, noticed: 0 }) {
    const type = req.types[progress.typeIndex];
    // A type the policy now denies (scopes are fixed by the token; an account may have lost its roles) is skipped.
    if (!access.can(type, 'r')) continue;
    const file = fileName(type);
    const out = await openAt(dir, file, progress.bytes);
    try {
      for (;;) {
        if (signal.aborted) return 'stopped';
        const { sql, params } = exportPage(
          env,
          { type, typeFilters: req.typeFilters[type] ?? [], since: req.since, until: job.transactionTime, patients: req.level === 'system' ? undefined : (req.patients ?? 'any') },
          progress.after,
          pageSize
        );
        const { rows } = await db.query<{ id: string; content: string }>(sql, params);
        if (rows.length === 0) break;
        let text = '';
        let noticed = 0;
        for (const row of rows) {
          let line = row.content;
          // Cheap test first: only a row that mentions the label is parsed.
          if (external && line.includes('42CFRPart2')) {
            const resource = parseJson(line) as Resource;
            if (isPart2(resource)) {
              line = stringifyJson(withRedisclosureNotice(resource));
              noticed++;
            }
          }
          text += line + '\n';
        }
        await out.write(text);
        progress = { ...progress, after: rows[rows.length - 1].id, bytes: progress.bytes + Buffer.byteLength(text), count: progress.count + rows.length, noticed: progress.noticed + noticed };
        const current = progress.count > 0 ? [...output, { type, file, count: progress.count, noticed: progress.noticed }] : output;
        if (!(await saveProgress(db, job, progress, current))) {
          await out.close();
          await removeJobFiles(config.exportDir, job.tenant, job.id);
          return 'cancelled';
        }
        if (rows.length < pageSize) break;
      }
    } finally {
      await out.close().catch(() => undefined);
    }
    if (progress.count > 0) output.push({ type, file, count: progress.count, noticed: progress.noticed } satisfies OutputFile);
    // A type with nothing to export leaves no file (the manifest lists files with content).
    else await removeFile(dir, file);
  }
  const done = await finishJob(db, job, 'completed', output, deps.clock.now().toISOString());
  if (!done) {
    await removeJobFiles(config.exportDir, job.tenant, job.id);
    return 'cancelled';
  }
  return 'completed';
}
