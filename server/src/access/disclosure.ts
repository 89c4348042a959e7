import type { AccessContext } from './context.ts';

/** Whether what this principal reads leaves the treating clinic (42 CFR Part 2, HIPAA accounting). */
export function isExternal(context: AccessContext): boolean { return Boolean(context.organization); }
