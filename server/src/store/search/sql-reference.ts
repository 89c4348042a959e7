import type { Sql } from './sql.ts';
import { keyEquals } from './sql-key.ts';
import type { ReferenceValue } from './types.ts';

/**
 * Reference matching on idx_reference rows (https://hl7.org/fhir/R4/search.html#reference):
 *   Type/id (or :Type with id)  target_type = Type AND target_id = id
 *   id                          target_id = id (any target type)
 *   absolute / canonical URL    url = value; the indexer also stored each versioned canonical
 *                               without its |version, so `url|1.0` and `url` both match as the
 *                               spec asks. URLs under our own base arrive here already as Type/id.
 *                               (`url` holds a long URL's first characters, `url_full` all: sql-key.ts)
 * The (tenant, rtype, param, target_id, target_type) index serves the first two.
 * The indexer gives a type and id only to references that are relative or under our own base, so
 * `Patient/1` means our Patient/1 and never another server's.
 */
export function referenceCondition(q: Sql, x: string, v: ReferenceValue, _fhirBase: string): string {
  if (v.url !== undefined) return keyEquals(q, { key: `${x}.url`, full: `${x}.url_full` }, v.url);
  const parts = [`${x}.target_id = ${q.p(v.id)}`];
  if (v.type) parts.push(`${x}.target_type = ${q.p(v.type)}`);
  return parts.join(' AND ');
}
