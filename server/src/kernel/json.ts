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

/**
 * Resources as read from the database (parseStored), each with the text it was parsed from: an
 * answer that sends them unchanged sends that text (stringifyStored) instead of serializing them
 * again. The text is what stringifyJson wrote when the resource was stored, and stringifyJson of
 * its parse gives that text back (decimals too, above), so the bytes are the same.
 */
const storedTexts = new WeakMap<object, string>();

/** parseJson of a stored resource's text, remembered for stringifyStored. */
export function parseStored(text: string): unknown {
  const value = parseJson(text);
  if (typeof value === 'object' && value !== null) storedTexts.set(value, text);
  return value;
}

/**
 * Where the text of a stored resource stands in stringifyStored's first pass. U+0000 is written
 * `\u0000` by JSON.stringify; a stored string holding this marker too is detected (one match too
 * many) and the value serialized as usual.
 */
const MARK = `\u0000stored-${Math.random().toString(36).slice(2)}-`;
const MARKED = new RegExp(`"${JSON.stringify(MARK).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(\\d+)"`, 'g');

/**
 * stringifyJson (compact), with every resource parsed by parseStored written as its stored text.
 * Only for values nothing has changed since they were read: the caller vouches for that (the
 * HTTP layer, for the answer of a read, vread or search, built from fresh reads; a resource it
 * changes for the answer, such as a disclosure notice or a _summary, is a new object).
 */
export function stringifyStored(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    const whole = storedTexts.get(value);
    if (whole !== undefined) return whole;
  }
  const texts: string[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    if (typeof v === 'object' && v !== null) {
      const text = storedTexts.get(v);
      if (text === undefined) return v;
      texts.push(text);
      return `${MARK}${texts.length - 1}`;
    }
    return decimalReplacer.call(this, key, v);
  });
  if (texts.length === 0) return json;
  let found = 0;
  const out = json.replace(MARKED, (_, i: string) => {
    found++;
    return texts[Number(i)] ?? '';
  });
  return found === texts.length ? out : stringifyJson(value);
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
