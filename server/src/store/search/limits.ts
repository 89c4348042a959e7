import { fail } from '../../kernel/outcome.ts';

/**
 * How much one search may ask for. Without bounds a single request could hold the server: the
 * same parameter repeated 1,000 times kept PGlite (which runs in the server process) busy for
 * minutes, and `_sort` with 1,000 keys ran a PostgreSQL query for ~100 s. Each limit is far above
 * what a client needs and is checked before any SQL is built; going over it is a 400 with issue
 * code `too-costly` naming the limit and the parameter, also under `Prefer: handling=lenient`
 * (dropping the parameter would quietly widen the search).
 * `_count` above the page size limit is not an error: the page is clamped (search.html#count
 * lets the server return fewer) and the Bundle's outcome entry says so.
 */
export const LIMITS = {
  /** Query parameters in one search, result parameters included (the paging cursor is not counted). */
  parameters: 50,
  /** Repetitions (AND) of one parameter name (includes excepted: they count towards `includes`). */
  repeats: 10,
  /** Comma-separated values (OR) in one parameter. */
  values: 100,
  /** `_sort` keys. */
  sortKeys: 5,
  /** References followed by one parameter: each chain link (`a.b`) and each `_has:` counts one. */
  chainDepth: 3,
  /** `_include` and `_revinclude` parameters (their rounds and rows are bounded in include.ts). */
  includes: 30,
} as const;

/** The whole request: parameter count, repeats and includes, before any parameter is parsed. */
export function checkRequestLimits(pairs: [string, string][], cursorParam: string): void {
  const counted = pairs.filter(([name]) => name !== cursorParam);
  if (counted.length > LIMITS.parameters) {
    fail('too-costly', `Too many search parameters: ${counted.length}, at most ${LIMITS.parameters} are allowed`);
  }
  const repeats = new Map<string, number>();
  let includes = 0;
  for (const [name] of counted) {
    // Includes are one kind of parameter whatever their names repeat: they have their own limit.
    if (/^_(rev)?include(:|$)/.test(name)) {
      if (++includes > LIMITS.includes) fail('too-costly', `Too many _include/_revinclude parameters: at most ${LIMITS.includes} are allowed`, name);
      continue;
    }
    const n = (repeats.get(name) ?? 0) + 1;
    repeats.set(name, n);
    if (n > LIMITS.repeats) fail('too-costly', `Parameter '${name}' is repeated more than ${LIMITS.repeats} times, the limit for one parameter`, name);
  }
}

/** A parameter's comma-separated values (`n` of them). */
export function checkValues(name: string, n: number): void {
  if (n > LIMITS.values) fail('too-costly', `Parameter '${name}' has ${n} comma-separated values; at most ${LIMITS.values} are allowed`, name);
}

/**
 * The references a parameter name follows, counted from its text before anything is parsed: a
 * chain without a type modifier is tried against every target, so parsing a deep one first would
 * already cost work exponential in its depth.
 */
export function checkChainDepth(name: string): void {
  const depth = (name.match(/\./g)?.length ?? 0) + (name.match(/(^|[.:])_has:/g)?.length ?? 0);
  if (depth > LIMITS.chainDepth) {
    fail('too-costly', `Parameter '${name}' follows ${depth} references; chains and _has may follow at most ${LIMITS.chainDepth}`, name);
  }
}

export function checkSortKeys(n: number): void {
  if (n > LIMITS.sortKeys) fail('too-costly', `_sort has ${n} keys; at most ${LIMITS.sortKeys} are allowed`, '_sort');
}
