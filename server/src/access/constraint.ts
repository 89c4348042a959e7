/**
 * What the access decision point (./policy.ts) answers for one resource type and permission: a
 * small predicate language that store/search/access.ts compiles INTO the SQL of every read path
 * (read, vread, search, counts, chains, _has, includes, history, $everything) and of the
 * before/after checks of writes. Nothing is ever loaded and then filtered in JavaScript.
 *
 * Kept deliberately small so that consent and further security labels plug in as new leaves
 * (or new combinations of these) without touching any read path.
 */
export type ReadConstraint =
  | { kind: 'deny' }
  | { kind: 'all' }
  /** v2 granular scopes: the resource matches any of these search-parameter sets (OR of ANDs). */
  | { kind: 'match'; any: [string, string][][] }
  | { kind: 'and'; all: ReadConstraint[] }
  | { kind: 'or'; any: ReadConstraint[] }
  /**
   * In the R4 Patient compartment of one of `patients` (ids): a Patient is in its own
   * compartment; other types through their compartment parameters (kernel/compartment.ts) over
   * idx_reference; types outside the compartment never.
   */
  | { kind: 'compartment'; patients: string[] }
  /** The resource's own id is one of `ids` (e.g. a RelatedPerson reading their own record). */
  | { kind: 'ids'; ids: string[] }
  /** A reference parameter (e.g. Composition.author) points at one of `targets` ('Type/id'). */
  | { kind: 'refers'; params: string[]; targets: string[] }
  /** The resource carries none of these meta.security labels (`_security` in idx_token). */
  | { kind: 'unlabelled'; labels: SecurityLabel[] }
  /**
   * One of the resource's dates (idx_date rows of `params`) lies within [start, end] (FHIR dates,
   * each of its whole precision; either may be open): a Consent's dataPeriod (./disclosure.ts).
   */
  | { kind: 'dated'; params: string[]; start?: string; end?: string }
  /**
   * The resource does NOT match `of` (e.g. the platform's own instruments, ./platform.ts). `refusal`
   * says why, for the 403 of a write this leaf refuses, and `expression` where (FHIRPath).
   */
  | { kind: 'not'; of: ReadConstraint; refusal?: string; expression?: string };

export interface SecurityLabel {
  system: string;
  code: string;
}

export const DENY: ReadConstraint = { kind: 'deny' };
export const ALL: ReadConstraint = { kind: 'all' };

/** Leaves that can match nothing (an empty patient or id list) are a deny. */
function empty(p: ReadConstraint): boolean {
  return (p.kind === 'compartment' && p.patients.length === 0) || (p.kind === 'ids' && p.ids.length === 0);
}

/** AND with the obvious simplifications: any deny → deny, all is dropped, duplicates once. */
export function allOf(parts: ReadConstraint[]): ReadConstraint {
  const out: ReadConstraint[] = [];
  const seen = new Set<string>();
  for (const p of parts.flatMap((x) => (x.kind === 'and' ? x.all : [x]))) {
    if (p.kind === 'deny' || empty(p)) return DENY;
    if (p.kind === 'all') continue;
    const key = JSON.stringify(p);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  if (out.length === 0) return ALL;
  return out.length === 1 ? out[0] : { kind: 'and', all: out };
}

/** OR with the obvious simplifications: any all → all, deny is dropped, duplicates once. */
export function anyOf(parts: ReadConstraint[]): ReadConstraint {
  const out: ReadConstraint[] = [];
  const seen = new Set<string>();
  for (const p of parts.flatMap((x) => (x.kind === 'or' ? x.any : [x]))) {
    if (p.kind === 'all') return ALL;
    if (p.kind === 'deny' || empty(p)) continue;
    const key = JSON.stringify(p);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  if (out.length === 0) return DENY;
  return out.length === 1 ? out[0] : { kind: 'or', any: out };
}
