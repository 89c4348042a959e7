import type { AccessPolicy } from '../access/policy.ts';
import type { Permission } from '../access/scopes.ts';
import type { Queryable, Statement } from '../db/database.ts';
import { fail } from '../kernel/outcome.ts';
import { tableOf } from './audit-table.ts';
import { explainedLeaves } from './search/access.ts';
import { accessPredicate, compileConstraint } from './search/compile.ts';
import { Sql } from './search/sql.ts';

/**
 * The current row of one resource, and the caller's reach over it: what every read by id and
 * every change starts from. The reach is the access policy's predicate (./search/access.ts),
 * evaluated in SQL on the row's own index rows, so one decision point answers reads, searches
 * and changes alike.
 */

/** A logical id as R4 allows it (https://hl7.org/fhir/R4/datatypes.html#id). */
export const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export interface CurrentRow {
  version: number;
  deleted: boolean;
  content: string;
}

/** A current row with the caller's access to it (`readCheckedRow`). */
export interface CheckedRow extends CurrentRow {
  /** Within the caller's reach for reading. */
  visible: boolean;
  /** Within the caller's reach for the permission asked. */
  allowed: boolean;
}

/** Whose reach: the tenant, the caller's access policy, and the base their references resolve against. */
export interface Reader {
  tenant: string;
  access: AccessPolicy;
  fhirBase: string;
}

/** The current row as stored, whoever asks (history's existence check). Prepared: one row by its key. */
export async function readCurrentRow(q: Queryable, tenant: string, resourceType: string, id: string): Promise<CurrentRow | undefined> {
  if (!ID.test(id)) return undefined;
  const { rows } = await q.query<CurrentRow>(`SELECT version, deleted, content FROM ${tableOf(resourceType)} WHERE tenant = $1 AND type = $2 AND id = $3`, [tenant, resourceType, id], {
    prepare: true,
  });
  return rows[0];
}

/**
 * The current row with whether it is within the caller's reach for reading and for `permission`
 * (the predicates of `within`, evaluated on the same row), so that a change costs no round trips
 * of its own for them (`assertRowVisible`).
 */
export async function readCheckedRow(q: Queryable, reader: Reader, resourceType: string, id: string, permission: Permission): Promise<CheckedRow | undefined> {
  if (!ID.test(id)) return undefined;
  const { sql, params, prepare } = checkedRowStatement(reader, resourceType, id, permission);
  const { rows } = await q.query<CheckedRow>(sql, params, { prepare });
  return rows[0];
}

/** The statement of `readCheckedRow`. Prepared: one row by its key, whatever the values. */
export function checkedRowStatement(reader: Reader, resourceType: string, id: string, permission: Permission): Statement {
  const q = new Sql(reader.tenant);
  const env = { access: reader.access, fhirBase: reader.fhirBase };
  const visible = accessPredicate(q, resourceType, 'r', { ...env, permission: 'r' });
  const allowed = permission === 'r' ? 'TRUE' : accessPredicate(q, resourceType, 'r', { ...env, permission });
  return {
    sql: `SELECT r.version, r.deleted, r.content, ${visible} AS visible, ${allowed} AS allowed
       FROM ${tableOf(resourceType)} r WHERE r.tenant = $1 AND r.type = ${q.p(resourceType)} AND r.id = ${q.p(id)}`,
    params: q.params,
    prepare: true,
  };
}

/**
 * Whether the stored row type/id is within the caller's reach for `permission`.
 * Prepared: the plan (a primary-key probe and the predicate's probes of that one row's index
 * rows) cannot depend on the values, and planning it cost PostgreSQL more than running it.
 */
export async function within(q: Queryable, reader: Reader, resourceType: string, id: string, permission: Permission): Promise<boolean> {
  const c = reader.access.readConstraint(resourceType, permission);
  if (c.kind === 'all') return true;
  if (c.kind === 'deny') return false;
  const s = new Sql(reader.tenant);
  const pred = accessPredicate(s, resourceType, 'r', { access: reader.access, fhirBase: reader.fhirBase, permission });
  const { rows } = await q.query(`SELECT 1 FROM ${tableOf(resourceType)} r WHERE r.tenant = $1 AND r.type = ${s.p(resourceType)} AND r.id = ${s.p(id)} AND ${pred}`, s.params, {
    prepare: true,
  });
  return rows.length > 0;
}

/**
 * Why the access policy refuses `permission` on the stored row, when a leaf of its decision says
 * (an explained `not` leaf the row fails, e.g. the platform's instruments): for the 403's text.
 * Runs only on the way to a 403.
 */
export async function refusal(q: Queryable, reader: Reader, resourceType: string, id: string, permission: Permission): Promise<{ text: string; expression?: string } | undefined> {
  for (const leaf of explainedLeaves(reader.access.readConstraint(resourceType, permission))) {
    const s = new Sql(reader.tenant);
    const pred = compileConstraint(s, resourceType, 'r', leaf, { access: reader.access, fhirBase: reader.fhirBase, permission });
    const { rows } = await q.query(`SELECT 1 FROM ${tableOf(resourceType)} r WHERE r.tenant = $1 AND r.type = ${s.p(resourceType)} AND r.id = ${s.p(id)} AND ${pred}`, s.params);
    if (rows.length === 0) return { text: leaf.refusal as string, expression: leaf.expression };
  }
  return undefined;
}

/** A change refused on a visible row: 403, with the policy's reason when it gives one. */
async function refuseChange(q: Queryable, reader: Reader, resourceType: string, id: string, permission: Permission): Promise<never> {
  const why = await refusal(q, reader, resourceType, id, permission);
  fail('forbidden', `The granted access does not allow changing ${resourceType}/${id}${why ? `: ${why.text}` : ''}`, why?.expression);
}

/** `assertVisible` on a row read with its checks (`readCheckedRow`). */
export async function assertRowVisible(q: Queryable, reader: Reader, row: CheckedRow, resourceType: string, id: string, permission: Permission): Promise<void> {
  if (!row.visible) fail('not-found', `${resourceType}/${id} not found`);
  if (permission !== 'r' && !row.allowed) await refuseChange(q, reader, resourceType, id, permission);
}

/**
 * Before a read or a change: the resource must be visible to the caller, else 404 — a resource
 * outside the caller's reach answers as if it did not exist (existence must not leak). Visible
 * but not changeable with `permission` is a 403.
 */
export async function assertVisible(q: Queryable, reader: Reader, resourceType: string, id: string, permission: Permission = 'r'): Promise<void> {
  if (!(await within(q, reader, resourceType, id, 'r'))) fail('not-found', `${resourceType}/${id} not found`);
  if (permission !== 'r' && !(await within(q, reader, resourceType, id, permission))) await refuseChange(q, reader, resourceType, id, permission);
}

/**
 * If-Match (https://hl7.org/fhir/R4/http.html#concurrency): 412 naming the current version;
 * `*` matches any current (not deleted) version.
 * Called only once the caller's access to the row is established (visible, and the type's
 * permission granted), so a version is never named to someone who may not read it.
 */
export function precondition(ifMatch: string | undefined, row: CurrentRow | undefined, resourceType: string, id: string): void {
  if (ifMatch === undefined || (row && !row.deleted && (ifMatch === '*' || String(row.version) === ifMatch))) return;
  fail('precondition', `Version conflict: If-Match "${ifMatch}" does not match the current version "${row && !row.deleted ? row.version : 'none'}" of ${resourceType}/${id}`);
}
