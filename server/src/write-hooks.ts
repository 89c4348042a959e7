import type { WriteHook } from './store/hooks.ts';

/**
 * Every write hook the server runs, in order (see store/hooks.ts). Kept in one list so the write
 * path can be read in one place: clinical rules first (they may change or refuse the resource),
 * audit last (it records what was actually stored).
 */
export const writeHooks: readonly WriteHook[] = [];
