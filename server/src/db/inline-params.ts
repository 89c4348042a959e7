import { createRequire } from 'node:module';

/**
 * A parameterized statement as plain SQL text, for the simple-query protocol, which alone lets
 * several statements share one round trip (pg's extended protocol sends one statement and waits;
 * see database.ts `batch`). Each `$n` outside quotes becomes a quoted literal of the value as pg
 * would have sent it (`prepareValue`: arrays as array literals, dates as timestamps, null as
 * NULL), escaped with pg's `escapeLiteral`. A quoted literal is of unknown type, resolved from
 * its context exactly as an untyped bind parameter is; our statements cast where it matters
 * (`$2::text[]`). Statements with dollar quoting are refused rather than guessed at.
 */
// pg/lib/utils.js: the conversion pg applies to bind values.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue(v: unknown): string | Buffer | null;
};

/**
 * A string constant: quotes doubled; with a backslash, an escape-string constant (E'…') with
 * backslashes doubled, which means the same whatever standard_conforming_strings is (as pg's
 * escapeLiteral, but by regular expression: a resource's JSON may be tens of kilobytes).
 */
function escapeLiteral(s: string): string {
  const quoted = s.replace(/'/g, "''");
  return s.includes('\\') ? ` E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

/** Quoted literals, comments and quoted identifiers (copied as they are), or a parameter `$n`. */
const TOKENS = /'(?:[^']|'')*'|--[^\n]*|"[^"]*"|\$(\d+)/g;

export function inlineParams(sql: string, params: readonly unknown[] = []): string {
  if (!inlinable(sql)) throw new Error('inlineParams: dollar-quoted and block-commented statements are not supported');
  return sql.replace(TOKENS, (token, n: string | undefined) => {
    if (n === undefined) return token;
    const i = Number(n);
    if (i < 1 || i > params.length) throw new Error(`inlineParams: no value for $${i}`);
    return literal(params[i - 1]);
  });
}

function literal(v: unknown): string {
  const p = prepareValue(v);
  if (p === null || p === undefined) return 'NULL';
  if (Buffer.isBuffer(p)) return `'\\x${p.toString('hex')}'::bytea`;
  return escapeLiteral(String(p));
}

/** Statements `inlineParams` takes: no dollar quoting, no block comments. */
export function inlinable(sql: string): boolean {
  return !sql.includes('$$') && !sql.includes('/*');
}

/** Small enough to be worth sending as text (a bundle's resources are not: they stay bind values). */
export function smallParams(params: readonly unknown[] | undefined, limit = 4096): boolean {
  let size = 0;
  for (const v of params ?? []) {
    if (typeof v === 'string') size += v.length;
    else if (Array.isArray(v)) for (const x of v) size += typeof x === 'string' ? x.length : 16;
    else if (v !== null && typeof v === 'object') return false;
    else size += 16;
    if (size > limit) return false;
  }
  return true;
}
