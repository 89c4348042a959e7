/**
 * Search value escaping (https://hl7.org/fhir/R4/search.html#escaping): in a parameter value
 * `\,` `\$` `\|` and `\\` stand for the literal characters, while the bare `,` separates OR-ed
 * values, `$` separates composite components and `|` separates system|code (token, quantity).
 * Splitting keeps the escapes so that a later split on another separator still sees them;
 * `unescape` is applied only to the final atoms.
 */
export function splitEscaped(value: string, separator: ',' | '$' | '|'): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      current += ch + value[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Removes search escapes: `\,` → `,`, `\$` → `$`, `\|` → `|`, `\\` → `\`. */
export function unescape(value: string): string {
  return value.replace(/\\([,$|\\])/g, '$1');
}

/** Escapes a literal for use inside a LIKE pattern (default escape character is backslash). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => '\\' + c);
}
