import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.ts';
import { parseJson } from '../kernel/json.ts';
import type { Reader } from './current-row.ts';
import { accessForTypes } from './search/compile.ts';
import { Sql } from './search/sql.ts';

/** Where a compartment page starts and how long it is. */
export interface CompartmentPageRequest {
  /** Only resources changed since (`_since`). */
  since?: string;
  count: number;
  /** The last (type, id) of the previous page. */
  after?: [string, string];
}

/**
 * One page of the resources in a compartment that the caller may search: those whose (type,
 * param) reference points at the owner, with the caller's access composed into the same
 * statement (per type, ./search/access.ts). `pairs` are the compartment's (resource type, param)
 * links. Pages follow (type, id) order. The owner itself is not among them. The page is chosen on
 * ids alone and the content read for its rows only, so a patient with a long record costs one
 * page, not the whole record.
 */
export async function compartmentPage(
  db: Queryable,
  reader: Reader,
  owner: [type: string, id: string],
  pairs: [string, string][],
  page: CompartmentPageRequest
): Promise<{ resources: Resource[]; more: boolean }> {
  if (pairs.length === 0 || page.count <= 0) return { resources: [], more: false };
  const [ownerType, ownerId] = owner;
  const q = new Sql(reader.tenant);
  const types = [...new Set(pairs.map((p) => p[0]))];
  const access = accessForTypes(q, types, 'r', { access: reader.access, fhirBase: reader.fhirBase, permission: 's' }, true);
  if (access === 'FALSE') return { resources: [], more: false };
  const points = `x.target_type = ${q.p(ownerType)} AND x.target_id = ${q.p(ownerId)}`;
  const links = `unnest(${q.p(pairs.map((p) => p[0]), 'text[]')}, ${q.p(pairs.map((p) => p[1]), 'text[]')})`;
  const sinceSql = page.since ? ` AND r.last_updated >= ${q.p(page.since)}::timestamptz` : '';
  const afterSql = page.after ? ` AND (r.type, r.id) > (${q.p(page.after[0])}, ${q.p(page.after[1])})` : '';
  const self = `NOT (r.type = ${q.p(ownerType)} AND r.id = ${q.p(ownerId)})`;
  const { rows } = await db.query<{ content: string }>(
    `SELECT c.content FROM (
       SELECT r.type, r.id FROM resource r
       WHERE r.tenant = $1 AND NOT r.deleted${sinceSql}${afterSql} AND ${self} AND (r.type, r.id) IN (
         SELECT x.rtype, x.rid FROM idx_reference x
         JOIN ${links} AS c(rtype, param) ON x.rtype = c.rtype AND x.param = c.param
         WHERE x.tenant = $1 AND ${points}) AND (${access})
       ORDER BY r.type, r.id LIMIT ${q.p(page.count + 1, 'int')}) p
     JOIN resource c ON c.tenant = $1 AND c.type = p.type AND c.id = p.id
     ORDER BY p.type, p.id`,
    q.params
  );
  const resources = rows.slice(0, page.count).map((row) => parseJson(row.content) as Resource);
  return { resources, more: rows.length > page.count };
}
