import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where a job's NDJSON files live: `<EXPORT_DIR>/<tenant>/<job id>/<Type>.ndjson`. The folder is
 * the unit of deletion (cancel, retention). Names come from the server only (a job id is a UUID,
 * a type a known resource type), never from a request path unchecked.
 */
export function jobDir(exportDir: string, tenant: string, id: string): string {
  return join(exportDir, encodeURIComponent(tenant), id);
}

export const fileName = (type: string): string => `${type}.ndjson`;
/** OperationOutcomes of the manifest's `error` list (no resource type is called Errors). */
export const ERROR_FILE = 'Errors.ndjson';

/** A file opened for appending at `bytes` (`write` answers the bytes written): whatever a stopped worker wrote past its last saved page is cut off. */
export async function openAt(dir: string, file: string, bytes: number): Promise<{ write(text: string): Promise<number>; close(): Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const fh = await open(join(dir, file), bytes === 0 ? 'w' : 'r+');
  await fh.truncate(bytes);
  let position = bytes;
  return {
    async write(text: string) {
      const buf = Buffer.from(text, 'utf8');
      await fh.write(buf, 0, buf.length, position);
      position += buf.length;
      return buf.length;
    },
    close: () => fh.close(),
  };
}

export async function removeJobFiles(exportDir: string, tenant: string, id: string): Promise<void> {
  await rm(jobDir(exportDir, tenant, id), { recursive: true, force: true });
}

/** A finished file for download, or undefined when it is not there (deleted, never written). */
export async function readFile(exportDir: string, tenant: string, id: string, file: string): Promise<{ size: number; stream: () => ReadStream } | undefined> {
  const path = join(jobDir(exportDir, tenant, id), file);
  const s = await stat(path).catch(() => undefined);
  if (!s?.isFile()) return undefined;
  return { size: s.size, stream: () => createReadStream(path) };
}
