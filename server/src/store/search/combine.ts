import type { SearchParam } from '../../kernel/definitions.ts';
import type { Filter, ParamFilter } from './types.ts';

/**
 * Repetition means AND (https://hl7.org/fhir/R4/search.html#combining): `birthdate=ge1990&
 * birthdate=lt2000` asks for resources having a value ≥ 1990 and a value < 2000. For a parameter
 * that holds at most one value per resource (Patient.birthDate, Observation.value[x]) "a value"
 * is "the value", so both bounds can be tested on the same index row: one range scan instead of
 * two sets intersected, and one row estimate the planner gets right.
 * Only ordered types (date, number, quantity) with one plain value per repetition are merged.
 */
const ORDERED = new Set(['date', 'number', 'quantity']);

export function singleValued(param: SearchParam): boolean {
  const d = param.details;
  if (d.array !== false || !d.elementDefinitions?.length) return false;
  // A Timing yields one row per event; a max>1 element anywhere on the path is caught by `array`.
  return d.elementDefinitions.every((e) => e.max === 1 && !e.type.some((t) => t.code === 'Timing'));
}

export function combineRanges(filters: Filter[], types: string[]): Filter[] {
  if (types.length !== 1) return filters;
  const out: Filter[] = [];
  const merged = new Map<string, ParamFilter>();
  for (const f of filters) {
    const mergeable =
      f.kind === 'param' &&
      ORDERED.has(f.param.type) &&
      f.modifier === undefined &&
      f.missing === undefined &&
      f.values.length === 1 &&
      f.param.code !== '_lastUpdated' &&
      singleValued(f.param);
    if (!mergeable) {
      out.push(f);
      continue;
    }
    const prior = merged.get(f.param.code);
    if (prior) {
      prior.values.push(f.values[0]);
      prior.allOf = true;
    } else {
      const copy: ParamFilter = { ...f, values: [...f.values] };
      merged.set(f.param.code, copy);
      out.push(copy);
    }
  }
  return out;
}
