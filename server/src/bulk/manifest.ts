import type { AccessContext } from '../access/context.ts';
import { REDISCLOSURE_NOTICE, REDISCLOSURE_NOTICE_URL } from '../clinical/part2/notice.ts';
import { ERROR_FILE } from './files.ts';
import type { Job } from './jobs.ts';

/**
 * URLs of a job, under the FHIR base it was kicked off at, and the completion manifest
 * (https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status).
 */
export const statusUrl = (fhirBase: string, id: string): string => `${fhirBase}/$export-status/${id}`;
export const fileUrl = (fhirBase: string, id: string, file: string): string => `${fhirBase}/$export-file/${id}/${file}`;

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: true;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
  extension?: Record<string, unknown>;
}

/**
 * `extension` (the manifest's reserved field for server-specific content): when the requester is
 * outside the treating clinic and files hold Part 2-labelled resources, the notice those resources
 * carry (42 CFR §2.32(a)(1)) and which files hold how many of them.
 */
export function manifestOf(job: Job, fhirBase: string): Manifest {
  const entry = (o: Job['output'][number]) => ({ type: o.type, url: fileUrl(fhirBase, job.id, o.file), count: o.count });
  const noticed = job.output.filter((o) => o.noticed > 0);
  return {
    transactionTime: job.transactionTime,
    request: job.request.url,
    requiresAccessToken: true,
    output: job.output.filter((o) => o.file !== ERROR_FILE).map(entry),
    error: job.output.filter((o) => o.file === ERROR_FILE).map(entry),
    ...(noticed.length
      ? {
          extension: {
            [REDISCLOSURE_NOTICE_URL]: {
              notice: REDISCLOSURE_NOTICE,
              files: noticed.map((o) => ({ url: fileUrl(fhirBase, job.id, o.file), count: o.noticed })),
            },
          },
        }
      : {}),
  };
}

/** Status and files are for whoever kicked the job off: the same tenant, client and user. */
export function isRequester(job: Job, context: AccessContext): boolean {
  return job.tenant === context.tenant && job.requester.clientId === context.clientId && (job.requester.userId ?? null) === (context.userId ?? null);
}

/** X-Progress (export.html: a short free-text status). */
export function progressText(job: Job): string {
  if (job.status === 'accepted' && job.progress.typeIndex === 0 && job.progress.count === 0) return 'queued';
  // The output saved with the progress includes the type being written.
  const done = job.output.filter((o) => o.file !== ERROR_FILE).reduce((n, o) => n + o.count, 0);
  return `${job.progress.typeIndex}/${job.request.types.length} types, ${done} resources`;
}
