import type { AccessPolicy } from '../../access/policy.ts';
import type { Queryable } from '../../db/database.ts';
import { patientCompartmentParams } from '../../kernel/compartment.ts';
import { loadDefinitions } from '../../kernel/definitions.ts';
import { fail } from '../../kernel/outcome.ts';
import { AUDIT_TYPE, tableOf } from '../audit-table.ts';
import { combineRanges } from './combine.ts';
import { compileConstraint, compileFilter, accessPredicate } from './compile.ts';
import { type FilterEnv, toPredicate } from './compiled.ts';
import { parseSearch } from './parse.ts';
import { Sql, and, or } from './sql.ts';

/**
 * The rows of one resource type a Bulk Data $export writes (bulk/README.md), as keyset pages over
 * the primary key (tenant, type, id): `_typeFilter` queries compiled by the search compiler (an
 * OR of their filter sets), `_since`, the transaction time, the patients of a Patient- or
 * Group-level export, and the requester's access (`readConstraint`, as every search) — all in
 * the SQL, so nothing is loaded and then filtered, and memory does not grow with the data.
 * https://hl7.org/fhir/uv/bulkdata/export.html
 */
export interface ExportSelection {
  type: string;
  /** `_typeFilter` queries of this type, each as query pairs: a row matching any of them is exported. */
  typeFilters: [string, string][][];
  /** `_since`: resources last updated after this instant. */
  since?: string;
  /** The manifest's transactionTime: nothing updated after it. */
  until: string;
  /**
   * Patient or Group level: `any` = the compartment of any patient, a list = of these patients;
   * undefined = system level.
   */
  patients?: 'any' | string[];
}

export interface ExportEnv {
  tenant: string;
  access: AccessPolicy;
  fhirBase: string;
  /** `Prefer: handling=lenient`: unknown parameters in a `_typeFilter` are dropped, reported in `warnings`. */
  lenient?: boolean;
}

/** Whether a Patient- or Group-level export has anything to look at for `type`. */
export function inPatientCompartment(type: string): boolean {
  return type === 'Patient' || Boolean(patientCompartmentParams().get(type)?.length);
}

/**
 * Checks (and compiles, discarding the SQL) a `_typeFilter` query: a 400 naming the problem at
 * kick-off rather than a failed job later. Returns what lenient handling ignored.
 */
export function checkTypeFilter(env: ExportEnv, type: string, pairs: [string, string][]): string[] {
  loadDefinitions();
  const parsed = parseSearch(type, pairs, { lenient: Boolean(env.lenient), fhirBase: env.fhirBase, defaultCount: 1, maxCount: 1 });
  if (parsed.sort.length || parsed.includes.length || parsed.summary || parsed.elements || parsed.total || parsed.cursor) {
    fail('invalid', `_typeFilter '${type}?…' may hold search parameters only, not result parameters (_sort, _include, _summary, _elements, _total)`, '_typeFilter');
  }
  const q = new Sql(env.tenant);
  const fenv: FilterEnv = { access: env.access, fhirBase: env.fhirBase, permission: 'r' };
  combineRanges(parsed.filters, [type]).forEach((f) => compileFilter(q, [type], f, fenv));
  return parsed.warnings;
}

/**
 * One page: `SELECT id, content … WHERE id > after ORDER BY id LIMIT limit`, returned as
 * `{ text, n, last }` (the page's NDJSON, its row count, its last id). The primary key serves the
 * order, so each page is an index range however large the table.
 */
export function exportPage(env: ExportEnv, sel: ExportSelection, after: string | undefined, limit: number): { sql: string; params: unknown[] } {
  loadDefinitions();
  const q = new Sql(env.tenant);
  const fenv: FilterEnv = { access: env.access, fhirBase: env.fhirBase, permission: 'r' };
  const type = sel.type;
  const conds = [`r.type = ${q.p(type)}`, 'NOT r.deleted', `r.last_updated <= ${q.p(sel.until, 'timestamptz')}`];
  if (sel.since) conds.push(`r.last_updated > ${q.p(sel.since, 'timestamptz')}`);
  if (sel.typeFilters.length) {
    conds.push(
      or(
        sel.typeFilters.map((pairs) => {
          const parsed = parseSearch(type, pairs, { lenient: Boolean(env.lenient), fhirBase: env.fhirBase, defaultCount: 1, maxCount: 1 });
          return and(combineRanges(parsed.filters, [type]).map((f) => toPredicate(compileFilter(q, [type], f, fenv), [type], 'r')));
        })
      )
    );
  }
  if (sel.patients === 'any') conds.push(anyPatient(q, type));
  else if (sel.patients) conds.push(compileConstraint(q, type, 'r', { kind: 'compartment', patients: sel.patients }, fenv));
  conds.push(accessPredicate(q, type, 'r', fenv));
  if (after !== undefined) conds.push(`r.id > ${q.p(after)}`);
  const page = `SELECT r.id, r.content FROM ${tableOf(type)} r WHERE r.tenant = $1 AND ${and(conds)} ORDER BY r.id LIMIT ${q.p(limit, 'int')}`;
  // The page comes back as one NDJSON text (resources are stored as one-line JSON): one value to
  // transfer and decode instead of a row object per resource.
  const sql = `SELECT string_agg(p.content, E'\n' ORDER BY p.id) AS text, count(*)::int AS n, max(p.id) AS last FROM (${page}) p`;
  return { sql, params: q.params };
}

/**
 * The types a tenant has any row of, by a loose index scan of the primary key (one probe per type
 * present): a system export of all ~146 types then reads only the few a tenant uses.
 */
export async function typesPresent(db: Queryable, tenant: string): Promise<Set<string>> {
  const { rows } = await db.query<{ type: string }>(
    `WITH RECURSIVE t(type) AS (
       (SELECT type FROM resource WHERE tenant = $1 ORDER BY type LIMIT 1)
       UNION ALL
       SELECT (SELECT r.type FROM resource r WHERE r.tenant = $1 AND r.type > t.type ORDER BY r.type LIMIT 1) FROM t WHERE t.type IS NOT NULL)
     SELECT type FROM t WHERE type IS NOT NULL
     UNION ALL SELECT 'AuditEvent' WHERE EXISTS (SELECT 1 FROM audit_event WHERE tenant = $1)`,
    [tenant]
  );
  return new Set(rows.map((r) => r.type));
}

/** In some patient's compartment (Patient/$export without `patient`): every Patient, or a reference to one. */
function anyPatient(q: Sql, type: string): string {
  if (type === 'Patient') return 'TRUE';
  // An AuditEvent's patients are keys of its row (../audit-table.ts).
  if (type === AUDIT_TYPE) return `EXISTS (SELECT 1 FROM unnest(r.keys) k WHERE k LIKE 'patient' || chr(31) || 'Patient/%')`;
  const params = patientCompartmentParams().get(type);
  if (!params?.length) return 'FALSE';
  const x = q.alias('a');
  return `EXISTS (SELECT 1 FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${q.p(type)} AND ${x}.rid = r.id AND ${x}.param = ANY(${q.p(params, 'text[]')}) AND ${x}.target_type = 'Patient')`;
}
