import type { Resource } from '@medplum/fhirtypes';
import { isDisclosure } from '../access/accounting.ts';
import { isExternal } from '../access/disclosure.ts';
import { currentPrincipal } from '../access/person.ts';
import { policyFor } from '../access/policy.ts';
import type { BackgroundDeps } from '../background.ts';
import { isPart2, withRedisclosureNotice } from '../clinical/part2/notice.ts';
import { parseJson, stringifyJson } from '../kernel/json.ts';
import { type ExportEnv, type ExportSelection, exportPage, typesPresent } from '../store/search/export.ts';
import { FileTally } from './file-disclosure.ts';
import { ERROR_FILE, fileName, jobDir, openAt, removeJobFiles } from './files.ts';
import { type Job, type OutputFile, type Progress, finishJob, saveProgress } from './jobs.ts';

/** How often the resume point is saved and the lease renewed (well within jobs.ts LEASE_SECONDS). */
const SAVE_EVERY_MS = 1000;

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
export type RunResult = 'completed' | 'cancelled' | 'stopped' | 'failed';

export async function runJob(deps: BackgroundDeps, job: Job, signal: AbortSignal): Promise<RunResult> {
  const { db, config } = deps;
  const dir = jobDir(config.exportDir, job.tenant, job.id);
  const pageSize = config.exportPageSize;
  const access = await policyFor(await currentPrincipal(db, job.requester), db);
  const env: ExportEnv = { tenant: job.tenant, access, fhirBase: deps.fhirBase, lenient: job.request.lenient };
  // §2.32: Part 2 records that leave the treating clinic carry the redisclosure notice.
  const external = isExternal(job.requester);
  // Accounting of disclosures: what each file carries, recorded when the requester downloads it.
  const accounted = isDisclosure(job.requester);
  const req = job.request;
  let progress: Progress = { ...job.progress };
  // The saved output lists the type being written with its count so far (for X-Progress); a
  // resumed job writes that entry anew when the type is done.
  let savedAt = Date.now();
  // A job resumed mid-type continues the tally saved with that resume point.
  const resumedTally = progress.after === undefined ? undefined : job.output.find((o) => o.file !== ERROR_FILE && o.type === req.types[progress.typeIndex])?.disclosed;
  const output = job.output.filter((o) => o.file === ERROR_FILE || o.type !== req.types[progress.typeIndex]);

  if (progress.typeIndex === 0 && progress.count === 0 && req.warnings.length && !output.some((o) => o.file === ERROR_FILE)) {
    const f = await openAt(dir, ERROR_FILE, 0);
    await f.write(stringifyJson({ resourceType: 'OperationOutcome', issue: req.warnings.map((w) => ({ severity: 'warning', code: 'not-supported', diagnostics: w })) }) + '\n');
    await f.close();
    output.push({ type: 'OperationOutcome', file: ERROR_FILE, count: 1, noticed: 0 });
  }

  const present = await typesPresent(db, job.tenant);
  for (; progress.typeIndex < req.types.length; progress = { typeIndex: progress.typeIndex + 1, bytes: 0, count: 0, noticed: 0 }) {
    const type = req.types[progress.typeIndex];
    // A type the policy now denies (scopes are fixed by the token; an account may have lost its roles) is skipped.
    if (!access.can(type, 'r') || !present.has(type)) continue;
    const file = fileName(type);
    const selection: ExportSelection = { type, typeFilters: req.typeFilters[type] ?? [], since: req.since, until: job.transactionTime, patients: req.level === 'system' ? undefined : (req.patients ?? 'any') };
    type Page = { text: string | null; n: number; last: string | null };
    const page = (after: string | undefined): Promise<Page> => {
      const { sql, params } = exportPage(env, selection, after, pageSize);
      return db.query<Page>(sql, params).then((r) => r.rows[0]);
    };
    // Opened with the first row: most types of a tenant are empty, and leave no file.
    let out: Awaited<ReturnType<typeof openAt>> | undefined;
    let next: Promise<Page> | undefined = page(progress.after);
    const tally = accounted ? new FileTally(progress.after === undefined ? undefined : resumedTally) : undefined;
    const entry = (): OutputFile => ({ type, file, count: progress.count, noticed: progress.noticed, ...(tally ? { disclosed: tally.snapshot() } : {}) });
    try {
      while (next) {
        const p: Page = await next;
        if (signal.aborted) return 'stopped';
        if (p.n === 0 || p.text === null || p.last === null) break;
        // The next page is read while this one is written.
        next = p.n === pageSize ? page(p.last) : undefined;
        next?.catch(() => undefined);
        out ??= await openAt(dir, file, progress.bytes);
        const { text, noticed } = withNotices(p.text + '\n', external);
        tally?.addLines(p.text);
        const written = await out.write(text);
        progress = { ...progress, after: p.last, bytes: progress.bytes + written, count: progress.count + p.n, noticed: progress.noticed + noticed };
        // The resume point is saved (and the lease renewed) about once a second, not every page.
        if (Date.now() - savedAt >= SAVE_EVERY_MS) {
          savedAt = Date.now();
          if (!(await saveProgress(db, job, progress, [...output, entry()]))) {
            await out.close();
            await next?.catch(() => undefined);
            await removeJobFiles(config.exportDir, job.tenant, job.id);
            return 'cancelled';
          }
        }
      }
    } finally {
      await out?.close().catch(() => undefined);
    }
    if (progress.count === 0) continue;
    output.push(entry());
    // A finished file is saved at once: a resumed job never writes it again.
    savedAt = Date.now();
    if (!(await saveProgress(db, job, { typeIndex: progress.typeIndex + 1, bytes: 0, count: 0, noticed: 0 }, output))) {
      await removeJobFiles(config.exportDir, job.tenant, job.id);
      return 'cancelled';
    }
  }
  const done = await finishJob(db, job, 'completed', output, deps.clock.now().toISOString());
  if (!done) {
    await removeJobFiles(config.exportDir, job.tenant, job.id);
    return 'cancelled';
  }
  return 'completed';
}

/** A page of NDJSON; for an external requester, Part 2-labelled lines get the §2.32 notice. */
function withNotices(text: string, external: boolean): { text: string; noticed: number } {
  // Cheap test first: only a page, then a line, that mentions the label is parsed.
  if (!external || !text.includes('42CFRPart2')) return { text, noticed: 0 };
  let noticed = 0;
  const lines = text.split('\n').map((line) => {
    if (!line.includes('42CFRPart2')) return line;
    const resource = parseJson(line) as Resource;
    if (!isPart2(resource)) return line;
    noticed++;
    return stringifyJson(withRedisclosureNotice(resource));
  });
  return { text: lines.join('\n'), noticed };
}
