import type { ReadConstraint } from '../../access/constraint.ts';
import { patientCompartmentParams } from '../../kernel/compartment.ts';
import { fail } from '../../kernel/outcome.ts';
import { AUDIT_TABLE, AUDIT_TYPE, SEP, anySystemKey, referenceKey, tokenKey } from '../audit-table.ts';
import { dateRange } from '../date-range.ts';
import { type Compiled, type FilterEnv, setColumns, typeMatch } from './compiled.ts';
import { escapeLike } from './escape.ts';
import { dateCondition } from './sql-date.ts';
import type { Sql } from './sql.ts';
import { and, or } from './sql.ts';
import type { ChainFilter, HasFilter, ParamFilter, TokenValue } from './types.ts';

/**
 * Search over AuditEvents in their own table (../audit-table.ts): each filter and each access
 * leaf becomes a predicate on the `audit_event` row — `keys && ARRAY[…]` (the GIN index) for
 * tokens and references, the `recorded` range for `date` — with R4's semantics for the
 * parameters the table indexes (https://hl7.org/fhir/R4/search.html, auditevent.html#search):
 *   date                       prefixes eq…ap over [recorded, recorded_high), :missing
 *   type, subtype, outcome     code, system|code, |code, system| ; :not, :missing
 *   agent, entity, patient     Type/id, id, :Type, absolute URL; :identifier (agent, entity);
 *                              chains (agent:Practitioner.name=…); :missing
 *   _id, _lastUpdated          as for every type (columns of the row)
 * Any other AuditEvent parameter or modifier is refused at parse time (`checkAuditParam`), so a
 * search never silently finds nothing because a value was not indexed.
 */

/** The modifiers each searchable AuditEvent parameter takes ('Type' = a reference's :Type). */
const PARAMS: Record<string, readonly string[]> = {
  _id: [],
  _lastUpdated: [],
  date: ['missing'],
  type: ['not', 'missing'],
  subtype: ['not', 'missing'],
  outcome: ['not', 'missing'],
  agent: ['identifier', 'missing', 'Type'],
  entity: ['identifier', 'missing', 'Type'],
  patient: ['missing', 'Type'],
};

/** The AuditEvent search parameters the audit table answers (the CapabilityStatement lists these). */
export const AUDIT_SEARCH_PARAMS: readonly string[] = Object.keys(PARAMS);

/** Refuses (400) an AuditEvent parameter or modifier the audit table does not index. */
export function checkAuditParam(code: string, modifier: string | undefined, name: string, chained = false): void {
  const allowed = PARAMS[code];
  if (!allowed) {
    fail('not-supported', `AuditEvent cannot be searched by '${code}': the audit log is indexed for ${Object.keys(PARAMS).join(', ')}`, name);
  }
  if (chained) return;
  if (modifier === undefined) return;
  if (allowed.includes(modifier) || (allowed.includes('Type') && /^[A-Z]/.test(modifier))) return;
  fail('not-supported', `Modifier ':${modifier}' is not supported for AuditEvent '${code}'`, name);
}

/** `_sort` on AuditEvent: by date, _lastUpdated or _id. */
export function checkAuditSort(code: string): void {
  if (!['date', '_lastUpdated', '_id'].includes(code)) fail('not-supported', `AuditEvent can be sorted by date, _lastUpdated or _id, not '${code}'`, '_sort');
}

/** `k LIKE pattern` for some key of row `a` (a condition no index serves: used beside others). */
function someKeyLike(q: Sql, a: string, pattern: string): string {
  return `EXISTS (SELECT 1 FROM unnest(${a}.keys) k WHERE k LIKE ${q.p(pattern)})`;
}

/** The keys any of which match, and the patterns (`system|`, an id of any type) that also do. */
function matchAny(q: Sql, a: string, keys: string[], patterns: string[]): string {
  const parts = keys.length ? [`${a}.keys && ${q.p([...new Set(keys)], 'text[]')}`] : [];
  for (const p of patterns) parts.push(someKeyLike(q, a, p));
  return parts.length ? or(parts) : 'FALSE';
}

/** One plain parameter filter as a predicate on the audit_event row. */
export function compileAuditParam(q: Sql, f: ParamFilter): Compiled {
  const code = f.param.code;
  if (code === 'date') {
    if (f.missing !== undefined) return { where: () => (f.missing ? 'FALSE' : 'TRUE') };
    return {
      where: (a) => {
        const conds = f.values.map((v) => (v.kind === 'date' ? dateCondition(q, `${a}.recorded`, `${a}.recorded_high`, v) : 'FALSE'));
        return f.allOf ? and(conds) : or(conds);
      },
    };
  }
  const param = f.modifier === 'identifier' ? `${code}:identifier` : code;
  if (f.missing !== undefined) {
    return { where: (a) => `${f.missing ? 'NOT ' : ''}${someKeyLike(q, a, `${escapeLike(param)}${SEP}%`)}` };
  }
  const keys: string[] = [];
  const patterns: string[] = [];
  for (const v of f.values) {
    if (v.kind === 'token') tokenKeys(param, v, keys, patterns);
    else if (v.kind === 'reference') {
      if (v.url !== undefined) keys.push(referenceKey(param, v.url));
      else {
        const targets = f.param.definition.target ?? [];
        const type = v.type ?? (targets.length === 1 ? targets[0] : undefined);
        if (type) keys.push(referenceKey(param, `${type}/${v.id}`));
        else patterns.push(`${escapeLike(param)}${SEP}%/${escapeLike(v.id as string)}`);
      }
    }
  }
  return { where: (a) => (f.modifier === 'not' ? `NOT (${matchAny(q, a, keys, patterns)})` : matchAny(q, a, keys, patterns)) };
}

function tokenKeys(param: string, v: TokenValue, keys: string[], patterns: string[]): void {
  if (v.code === undefined) {
    // `system|`: any code of that system.
    if (v.system) patterns.push(`${escapeLike(param)}${SEP}${escapeLike(v.system)}${SEP}%`);
    return;
  }
  keys.push(v.system === undefined ? anySystemKey(param, v.code) : tokenKey(param, v.system, v.code));
}

/**
 * `agent:Practitioner.name=x`: the ids of the targets that match (searched under the caller's
 * access, as every chain: chain.ts `idSet`) as reference keys of this AuditEvent.
 */
export function compileAuditChain(q: Sql, f: ChainFilter, env: FilterEnv, idSet: (target: ChainFilter['targets'][number]) => string): Compiled {
  const branches = f.targets.filter(({ type }) => env.trusted || env.access.readConstraint(type, env.permission ?? 's').kind !== 'deny');
  if (branches.length === 0) {
    fail('forbidden', `The granted scopes do not allow searching ${f.targets.map((t) => t.type).join(', ')} (chained in '${f.name}')`, f.name);
  }
  const sets = branches.map((b) => ({ prefix: `${f.param.code}${SEP}${b.type}/`, set: idSet(b) }));
  return { where: (a) => or(sets.map(({ prefix, set }) => `${a}.keys && ARRAY(SELECT ${q.p(prefix)}::text || s.id FROM (${set}) s(id))`)) };
}

/**
 * `_has:AuditEvent:patient:subtype=…` on another type: the resources the matching AuditEvents
 * refer to through that parameter, read off their keys.
 */
export function auditReferrers(q: Sql, types: string[], f: HasFilter, inner: string): Compiled {
  const x = q.alias('e');
  const prefix = `${f.refParam}${SEP}`;
  const target = `substr(k, ${prefix.length + 1})`;
  const refs = `SELECT split_part(${target}, '/', 1) AS rtype, split_part(${target}, '/', 2) AS rid FROM ${AUDIT_TABLE} ${x}, unnest(${x}.keys) k
    WHERE ${x}.tenant = $1 AND ${x}.id IN (${inner}) AND k LIKE ${q.p(`${escapeLike(prefix)}%/%`)}`;
  return { set: `SELECT ${setColumns(types, 'h.rtype', 'h.rid')} FROM (${refs}) h WHERE ${typeMatch(q, 'h.rtype', types)}` };
}

/**
 * The access leaves whose SQL reads index rows, over an audit_event row instead (access.ts);
 * undefined for the others, which access.ts compiles as for any type.
 */
export function auditConstraint(q: Sql, alias: string, c: ReadConstraint): string | undefined {
  switch (c.kind) {
    case 'compartment': {
      // R4 CompartmentDefinition Patient: AuditEvent is in it through `patient`.
      const params = patientCompartmentParams().get(AUDIT_TYPE) ?? [];
      const keys = params.flatMap((p) => c.patients.map((id) => referenceKey(p, `Patient/${id}`)));
      return keys.length ? `${alias}.keys && ${q.p(keys, 'text[]')}` : 'FALSE';
    }
    case 'refers': {
      const keys = c.params.flatMap((p) => c.targets.map((t) => referenceKey(p, t)));
      return keys.length ? `${alias}.keys && ${q.p(keys, 'text[]')}` : 'FALSE';
    }
    case 'dated': {
      const low = c.start === undefined ? undefined : dateRange(c.start)?.low;
      const high = c.end === undefined ? undefined : dateRange(c.end)?.high;
      if ((c.start !== undefined && !low) || (c.end !== undefined && !high) || !c.params.includes('date')) return 'FALSE';
      const bounds = [low ? `${alias}.recorded >= ${q.p(low, 'timestamptz')}` : '', high ? `${alias}.recorded_high <= ${q.p(high, 'timestamptz')}` : ''].filter(Boolean);
      return bounds.length ? and(bounds) : 'TRUE';
    }
    case 'unlabelled':
      // The server builds every AuditEvent (audit/audit-event.ts) and gives none a security label.
      return 'TRUE';
    default:
      return undefined;
  }
}
