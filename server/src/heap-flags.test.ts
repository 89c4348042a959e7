import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPILE_CACHE, HEAP_FLAGS, withHeapFlags } from './heap-flags.ts';

describe('heap flags', () => {
  it('npm start gives the server its heap flags and its compile cache', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`NODE_COMPILE_CACHE=${COMPILE_CACHE} node ${HEAP_FLAGS.join(' ')} server/src/main.ts`);
  });

  it('adds each flag unless execArgv already sets it', () => {
    expect(withHeapFlags([])).toEqual(HEAP_FLAGS);
    expect(withHeapFlags(['--max-semi-space-size=64'])).toEqual(['--max-semi-space-size=64', ...HEAP_FLAGS.filter((f) => !f.startsWith('--max-semi-space-size='))]);
    expect(withHeapFlags(['--max_semi_space_size=8']).filter((f) => /semi.space/.test(f))).toEqual(['--max_semi_space_size=8']);
    expect(withHeapFlags(['--heap-growing-percent=100'])).toEqual(['--heap-growing-percent=100', ...HEAP_FLAGS.filter((f) => !f.startsWith('--heap-growing-percent='))]);
  });
});
