import type { Filter, ParamFilter } from './types.ts';

/**
 * Which search pages go out as named prepared statements (QueryOptions.prepare, db/pg.ts): parsed
 * once per connection, and after five runs planned once (a generic plan) instead of per request.
 * Planning these statements cost PostgreSQL more than running them (issue 12: planning was ~21%
 * of the database's CPU in the benchmark's search mix).
 *
 * A generic plan is made without the values, from each column's average statistics, so only
 * shapes whose plan cannot depend on the values are prepared: those that start from a few rows
 * named by the request itself — given patients (`patient=Patient/1`), `_id`, an identifier —
 * and test everything else on those rows. A code, a status, a name prefix or a date range may
 * match three rows or thirty thousand: with those alone the planner must see the value (custom
 * plans, unnamed statements, planned per run). The text of a statement does not tell these apart
 * (`Patient?identifier=x` and `Observation?code=y` are the same SQL with other values), so the
 * choice is made here on the parsed filters, and a text prepared here runs only with values that
 * pinpoint: its generic plan is made from those alone.
 */

/**
 * A reference to given resources (`patient=Patient/1`, `subject=…`): few matches, whatever the
 * type. With several index filters the planner has to guess which one to start from, and it
 * cannot know that `Task?code=…risk-task&patient=…` should start from the patient: a code or a
 * status that appeared since the last ANALYZE (or that many resources share, in correlated
 * columns) is estimated at one row too, and it starts from the code — every risk Task of the
 * clinic, each then checked against the patient and the access rules (5–16 ms on a bench clinic
 * of 300 Tasks, growing with the clinic). So such a reference anchors the search: its ids are read
 * first (`= ANY(ARRAY(…))`, one index range), and the other filters are checked on those rows only
 * (`EXISTS (… OFFSET 0)`: OFFSET keeps PostgreSQL from turning the check back into a join it
 * would reorder).
 */
export function isAnchor(f: Filter): boolean {
  return (
    f.kind === 'param' &&
    f.param.type === 'reference' &&
    f.missing === undefined &&
    (f.modifier === undefined || /^[A-Z]/.test(f.modifier)) &&
    f.values.length > 0 &&
    f.values.every((v) => v.kind === 'reference' && Boolean(v.id))
  );
}

/**
 * Each value is its own statement text where a filter's values are written out one by one (an OR
 * of conditions): past this many, a search is not prepared, so that the statements each
 * connection keeps stay few.
 */
const MAX_VALUES = 4;

/**
 * A filter that names its few matches: resource ids, an identifier, references to given patients,
 * or a chain to patients that pinpoints them. Only references to patients: one patient's record is
 * bounded, while every Encounter of a clinic may point at one Organization — the values' own
 * statistics then tell the planner to walk the page order instead of reading them all.
 */
function pinpoints(f: Filter): boolean {
  if (f.kind === 'chain') return f.targets.every((t) => t.type === PATIENT && pinpoints(t.filter));
  if (f.kind !== 'param' || f.missing !== undefined || f.values.length > MAX_VALUES) return false;
  if (isAnchor(f)) return toPatients(f);
  if (f.param.code === '_id') return true;
  return isIdentifier(f);
}

const PATIENT = 'Patient';

/** Every value names a Patient (`Patient/1`, or a bare id of a parameter that targets Patient only). */
function toPatients(f: ParamFilter): boolean {
  const targets = f.param.definition.target ?? [];
  const implied = f.modifier ?? (targets.length === 1 ? targets[0] : undefined);
  return f.values.every((v) => v.kind === 'reference' && (v.type ?? implied) === PATIENT);
}

/** `identifier=[system|]code`: an identifier with its code (`system|` alone names a whole system). */
function isIdentifier(f: ParamFilter): boolean {
  return (
    f.param.type === 'token' &&
    f.param.code === 'identifier' &&
    f.modifier === undefined &&
    f.values.every((v) => v.kind === 'token' && v.code !== undefined)
  );
}

/**
 * True when the page statement of a search of one type has a plan that cannot go wrong with
 * another request's values: anchored on given resources with the other filters plain parameters
 * tested on its rows (`anchor`, the anchor's index in `filters`), or every filter pinpointing.
 * Not with the caller's access tested late (a large caseload, access.ts `testedLate`): how far
 * that walk goes depends on the caseload. A search with no filter is not prepared either: which
 * type it scans decides its plan.
 */
export function fixedPlan(filters: Filter[], anchor: number, types: string[], late: boolean): boolean {
  if (types.length !== 1 || late || filters.length === 0) return false;
  if (anchor >= 0) {
    return filters.every((f, i) => i === anchor || (f.kind === 'param' && f.values.length <= MAX_VALUES));
  }
  return filters.every(pinpoints);
}
