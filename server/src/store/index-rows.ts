/**
 * The shapes of search-index rows. Each search-parameter type is stored in the shape of its
 * comparison (see ../shared/DESIGN.md "Search indexes"):
 *  - token:     (system, code) plus the display text for :text
 *  - string:    normalized (lower-case, accents stripped) for prefix and :contains; exact for :exact
 *  - date:      [low, high) instants, so precision and prefixes follow the spec's range rules
 *  - number:    [low, high] (a Range, or a single value where low = high)
 *  - quantity:  value range plus system/code/unit, and a UCUM-canonical copy where we know the unit
 *  - reference: (target type, target id) for local references, url for absolute/canonical ones
 *  - uri:       the value as written
 * `grp` ties together the components of one composite occurrence; it is null for plain params.
 */
export interface TokenRow {
  param: string;
  grp: number | null;
  system: string | null;
  code: string | null;
  text: string | null;
}
export interface StringRow {
  param: string;
  grp: number | null;
  norm: string;
  exact: string;
}
export interface DateRow {
  param: string;
  grp: number | null;
  low: string;
  high: string;
}
/** Numbers are a JavaScript number or, where that would lose the decimal's text, the text. */
export interface NumberRow {
  param: string;
  grp: number | null;
  low: number | string | null;
  high: number | string | null;
}
export interface QuantityRow {
  param: string;
  grp: number | null;
  low: number | string | null;
  high: number | string | null;
  system: string | null;
  code: string | null;
  unit: string | null;
  canonCode: string | null;
  canonLow: number | null;
  canonHigh: number | null;
}
export interface ReferenceRow {
  param: string;
  grp: number | null;
  targetType: string | null;
  targetId: string | null;
  url: string | null;
}
export interface UriRow {
  param: string;
  grp: number | null;
  value: string;
}

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  reference: ReferenceRow[];
  uri: UriRow[];
}

export const INDEX_TABLES = ['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri'] as const;
export type IndexTable = (typeof INDEX_TABLES)[number];

export function emptyRows(): IndexRows {
  return { token: [], string: [], date: [], number: [], quantity: [], reference: [], uri: [] };
}
