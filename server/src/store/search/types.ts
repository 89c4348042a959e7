import type { SearchParam } from '../../kernel/definitions.ts';

/**
 * The parsed form of a search request (https://hl7.org/fhir/R4/search.html). Parsing validates
 * every name, modifier and value up front, so SQL is only built from well-formed input and a bad
 * request is a 400 naming the parameter, never a database error.
 */

/** Comparison prefixes for ordered types (https://hl7.org/fhir/R4/search.html#prefix). */
export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** Token: `code`, `system|code`, `|code` (system must be absent), `system|` (any code). */
export interface TokenValue {
  kind: 'token';
  /** undefined = any system; null = the value must have no system. */
  system?: string | null;
  code?: string;
}
/** Token :text — normalized text matched against display / CodeableConcept.text. */
export interface TextValue {
  kind: 'text';
  text: string;
}
export interface StringValue {
  kind: 'string';
  /** Normalized (lower-case, accents stripped) for the default and :contains matches. */
  norm: string;
  /** As given, for :exact. */
  exact: string;
}
/** A date as the instant range [low, high) its precision denotes. */
export interface DateValue {
  kind: 'date';
  prefix: Prefix;
  low: string;
  high: string;
}
/** A decimal with its implicit precision: value ± half (https://hl7.org/fhir/R4/search.html#number). */
export interface NumberValue {
  kind: 'number';
  prefix: Prefix;
  value: string;
  half: string;
}
export interface QuantityValue {
  kind: 'quantity';
  prefix: Prefix;
  value: string;
  half: string;
  /** undefined = no unit given; '' system = match code or unit only (`5.4||mg`). */
  system?: string;
  code?: string;
}
export interface ReferenceValue {
  kind: 'reference';
  type?: string;
  id?: string;
  url?: string;
}
export interface UriValue {
  kind: 'uri';
  value: string;
}
export interface CompositeValue {
  kind: 'composite';
  parts: AtomValue[];
}
export type AtomValue = TokenValue | TextValue | StringValue | DateValue | NumberValue | QuantityValue | ReferenceValue | UriValue;
export type Value = AtomValue | CompositeValue;

/** A plain parameter: `code[:modifier]=v1,v2` (values OR-ed). */
export interface ParamFilter {
  kind: 'param';
  /** The name as written, for messages. */
  name: string;
  param: SearchParam;
  modifier?: string;
  /** For :missing. */
  missing?: boolean;
  values: Value[];
  /** Values must all hold on one index row (merged repetitions, see combine.ts); otherwise OR. */
  allOf?: boolean;
}
/** A chain `ref[:Type].rest=v`: the referenced resource (of one of `targets`) matches `rest`. */
export interface ChainFilter {
  kind: 'chain';
  name: string;
  param: SearchParam;
  targets: { type: string; filter: Filter }[];
}
/** A reverse chain `_has:Type:ref:rest=v`: some `Type` referring to us via `ref` matches `rest`. */
export interface HasFilter {
  kind: 'has';
  name: string;
  type: string;
  refParam: string;
  filter: Filter;
}
export type Filter = ParamFilter | ChainFilter | HasFilter;

export interface SortKey {
  name: string;
  param: SearchParam;
  descending: boolean;
}

export interface IncludeSpec {
  reverse: boolean;
  iterate: boolean;
  sourceType: string;
  /** Reference parameter codes ('*' expands to every reference parameter of sourceType). */
  params: string[];
  targetType?: string;
  /** As written, for links. */
  raw: string;
}

export type Summary = 'true' | 'text' | 'data' | 'count' | 'false';
export type Total = 'none' | 'estimate' | 'accurate';

export interface ParsedSearch {
  /** The resource types searched (one for a type search; _type or all for a system search). */
  types: string[];
  /** True when the types were named by the client (type search or _type). */
  explicitTypes: boolean;
  filters: Filter[];
  sort: SortKey[];
  count: number;
  total?: Total;
  summary?: Summary;
  elements?: string[];
  includes: IncludeSpec[];
  cursor?: string;
  /** The accepted query pairs (without paging cursor), for self/next/previous links. */
  linkParams: [string, string][];
  /** What lenient handling ignored, reported as an OperationOutcome warning. */
  warnings: string[];
}
