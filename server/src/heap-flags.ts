/**
 * V8 heap settings every server process runs with (issue 12: RSS per server process ≤ 300 MB).
 * They can only be given on the command line (V8 sizes its heap when the process starts, and
 * NODE_OPTIONS refuses most of them), so they are given where processes are started: `npm start`
 * (package.json; heap-flags.test.ts keeps it the same as this list), the cluster's workers
 * (serve.ts adds them to the primary's own execArgv) and the benchmarks' and tests' server
 * processes (test/bench/server-process.ts and the bench scripts).
 *
 * --max-semi-space-size=16: V8 in Node 24 starts the young generation at two 32 MB semi-spaces,
 * grows it to two 64 MB ones under allocation-heavy load (a bundle ingest, search pages) and keeps
 * them: 64–128 MB of every process's resident memory, whatever it does later. With 16 MB
 * semi-spaces (Node ≤ 18's default on 64-bit) it stays at 32 MB. Measured on one process
 * (WORKERS=1, PostgreSQL): RSS at start 211 → 181 MB; after ingesting 120 Synthea bundles
 * 450–600 → 410–470 MB; the same CPU per bundle and per read within the machine's noise.
 *
 * --heap-growing-percent=50: after each full GC V8 sets the old generation's next limit at a
 * multiple of what survived, a factor it picks between 1.1 and 4 from its GC speed. Under bulk
 * loads and mixed load it picked a large one: a worker's committed heap reached 250–300 MB over
 * about 50 MB live, and its RSS 420–530 MB. A fixed 1.5 holds the committed heap at 100–150 MB.
 * The largest heap allowed does not change, only how soon V8 collects on the way. Measured
 * (`npm run bench -- --bundles=200 --phases=read,update,search`, 2 workers, two interleaved
 * pairs): worker RSS at the end 420–529 → 231–368 MB; CPU per read, If-Match update and search
 * the same or lower (e.g. If-Match 3.8–4.5 + 4.6–5.2 → 2.9–3.0 + 3.6–3.8 ms, server + database).
 */
export const HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=50'];

/** `execArgv` with HEAP_FLAGS added, except where it already sets the same flag (an operator's own value wins). */
export function withHeapFlags(execArgv: readonly string[]): string[] {
  const name = (flag: string) => flag.split('=')[0].replace(/_/g, '-');
  const given = new Set(execArgv.map(name));
  return [...execArgv, ...HEAP_FLAGS.filter((f) => !given.has(name(f)))];
}

/**
 * The compile cache main.ts turns on (relative to the repository root), given to the process from
 * its start by `npm start` and the benchmarks' server processes: Node then reads even main.ts
 * from it and never loads its TypeScript stripper, 120–150 ms of every start (a cluster's primary,
 * profiled). main.ts still enables the same cache for a server started as `node server/src/main.ts`.
 */
export const COMPILE_CACHE = '.cache/node-compile-cache';
