import module from 'node:module';
import { join } from 'node:path';

/**
 * `npm start` / `node server/src/main.ts`: the server (./serve.ts). This entry only turns on
 * Node's compile cache first, in `.cache/node-compile-cache` at the repository root (not
 * committed): Node strips the types of every one of our modules and compiles them at each start,
 * about a third of the modules' load time, and the cache keeps the result for the next start
 * (issue 12, start time). Loaded with a dynamic import because static imports are all compiled
 * before any line of this file runs. A cache that cannot be written only costs that time.
 */
try {
  module.enableCompileCache?.(join(import.meta.dirname, '../../.cache/node-compile-cache'));
} catch {
  // No cache: the same start, slower.
}
await import('./serve.ts');
