/**
 * JSON that keeps the text of decimals. R4 says a decimal's precision is significant
 * (https://hl7.org/fhir/R4/datatypes.html#decimal): `12.50` is not `12.5`, and
 * `123456789012345678901234567890` is not `1.2345678901234568e+29`. Everything that reads a
 * resource (validation, FHIRPath, scoring, indexing) wants numbers, so numbers stay numbers:
 * parseJson remembers, per parent object, the source text of each number that String(n) would
 * not reproduce, and stringifyJson writes that text back (JSON.rawJSON) as long as the number
 * still has the value it was parsed with. Copies lose the memory: carryDecimals re-attaches it.
 */
const sources = new WeakMap<object, Map<string, string>>();

/** Node ≥ 21 (ES2026 JSON.parse source text access); TypeScript's lib does not declare it yet. */
const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown };

/**
 * A number literal, after `:` `,` or `[` and before `,` `}` or `]`, whose text String(n) may not
 * give back: a fraction ending in 0, an exponent, 16 or more digits, six zeros after the point,
 * minus zero. Bodies without one (most) are parsed without a reviver, which costs four times more.
 */
const MAY_LOSE_TEXT = /[:,[]\s*(?:-?(?:\d+\.\d*0|\d+(?:\.\d+)?[eE][+-]?\d+|[\d.]{16,}|0\.0{6}\d*)|-0)\s*[,}\]]/;

export function parseJson(text: string): unknown {
  if (!MAY_LOSE_TEXT.test(text)) return JSON.parse(text);
  return JSON.parse(text, function (this: object, key: string, value: unknown, context?: { source?: string }) {
    const source = context?.source;
    if (typeof value === 'number' && source !== undefined && String(value) !== source) rememberDecimal(this, key, source);
    return value;
  });
}

export function stringifyJson(value: unknown, space?: number): string {
  return JSON.stringify(value, decimalReplacer, space);
}

function decimalReplacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value !== 'number' || typeof this !== 'object' || this === null) return value;
  const text = decimalText(this, key);
  return text === undefined ? value : rawJSON(text);
}

/** The text `holder[key]` was written with, if it is a number whose text String(n) would lose. */
export function decimalText(holder: unknown, key: string | number): string | undefined {
  if (typeof holder !== 'object' || holder === null) return undefined;
  const text = sources.get(holder)?.get(String(key));
  const value = (holder as Record<string, unknown>)[key];
  return text !== undefined && typeof value === 'number' && Number(text) === value ? text : undefined;
}

export function rememberDecimal(holder: object, key: string | number, text: string): void {
  let m = sources.get(holder);
  if (!m) sources.set(holder, (m = new Map()));
  m.set(String(key), text);
}

/**
 * Gives `to` the decimal texts `from` holds at the same paths, where `to` has the same number
 * there: `to` is a copy of `from` (a spread, a deep clone, a rebuilt object), perhaps changed.
 */
export function carryDecimals(from: unknown, to: unknown): void {
  if (from === to || typeof from !== 'object' || typeof to !== 'object' || from === null || to === null) return;
  const f = from as Record<string, unknown>;
  const t = to as Record<string, unknown>;
  const known = sources.get(from);
  for (const key of Object.keys(f)) {
    const value = f[key];
    if (typeof value === 'number') {
      const text = known ? decimalText(from, key) : undefined;
      if (text !== undefined && t[key] === value) rememberDecimal(to, key, text);
    } else if (typeof value === 'object' && value !== null) {
      carryDecimals(value, t[key]);
    }
  }
}

/** True when `from` holds a decimal text anywhere. */
export function hasDecimalText(from: unknown): boolean {
  if (typeof from !== 'object' || from === null) return false;
  if (sources.has(from)) return true;
  return Object.values(from).some(hasDecimalText);
}
