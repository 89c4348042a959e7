import type { Queryable } from '../../db/database.ts';
import { searchParamsFor } from '../../kernel/definitions.ts';
import { accessForTypes } from './compile.ts';
import type { FilterEnv } from './compiled.ts';
import { allResourceTypes } from './parse.ts';
import { Sql } from './sql.ts';
import type { IncludeSpec } from './types.ts';

/**
 * _include and _revinclude (https://hl7.org/fhir/R4/search.html#include), in SQL through
 * idx_reference, under the same access rule as the match itself (accessForTypes on the included
 * row). Each round is one query: round 0 applies every spec to the page's matches; later rounds
 * apply the :iterate specs to what the previous round added, up to MAX_ROUNDS. Entries already in
 * the bundle are not repeated.
 */
export const MAX_ROUNDS = 3;
/** Upper bound on included resources per round, so one request cannot return a whole database. */
export const INCLUDE_LIMIT = 1000;

export interface Row {
  type: string;
  id: string;
  content: string;
}

export interface IncludeResult {
  rows: Row[];
  truncated: boolean;
}

export async function loadIncludes(db: Queryable, tenant: string, env: FilterEnv, specs: IncludeSpec[], matches: Row[]): Promise<IncludeResult> {
  const seen = new Set(matches.map((m) => `${m.type}/${m.id}`));
  const out: Row[] = [];
  let truncated = false;
  let sources = matches;
  for (let round = 0; round <= MAX_ROUNDS && sources.length > 0; round++) {
    const active = round === 0 ? specs : specs.filter((s) => s.iterate);
    if (active.length === 0) break;
    const q = new Sql(tenant);
    const sql = roundQuery(q, active, sources, env);
    if (!sql) break;
    const { rows } = await db.query<Row>(sql, q.params);
    if (rows.length > INCLUDE_LIMIT) truncated = true;
    const fresh: Row[] = [];
    for (const r of rows.slice(0, INCLUDE_LIMIT)) {
      const key = `${r.type}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      fresh.push(r);
    }
    out.push(...fresh);
    sources = fresh;
  }
  return { rows: out, truncated };
}

function referenceParams(type: string, codes: string[]): string[] {
  const all = [...searchParamsFor(type).values()].filter((p) => p.type === 'reference').map((p) => p.code);
  return codes.includes('*') ? all : codes.filter((c) => all.includes(c));
}

function targetsOf(type: string, codes: string[]): string[] | undefined {
  const targets = new Set<string>();
  for (const c of codes) {
    const t = searchParamsFor(type).get(c)?.definition.target ?? [];
    if (t.length === 0) return undefined; // any type
    for (const x of t) targets.add(x);
  }
  return [...targets];
}

function roundQuery(q: Sql, specs: IncludeSpec[], sources: Row[], env: FilterEnv): string | undefined {
  const byType = new Map<string, string[]>();
  for (const s of sources) byType.set(s.type, [...(byType.get(s.type) ?? []), s.id]);
  const sets: string[] = [];
  const candidateTypes = new Set<string>();
  let anyType = false;

  for (const spec of specs) {
    if (!spec.reverse) {
      // Forward: follow the sources' own references to their targets.
      for (const [type, ids] of byType) {
        if (spec.sourceType !== '*' && spec.sourceType !== type) continue;
        const codes = referenceParams(type, spec.params);
        if (codes.length === 0) continue;
        if (spec.targetType) candidateTypes.add(spec.targetType);
        else {
          const t = targetsOf(type, codes);
          if (t) for (const x of t) candidateTypes.add(x);
          else anyType = true;
        }
        const x = q.alias('x');
        sets.push(
          `SELECT ${x}.target_type, ${x}.target_id FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${q.p(type)} AND ${x}.param = ANY(${q.p(codes, 'text[]')}) AND ${x}.rid = ANY(${q.p(ids, 'text[]')}) AND ${x}.target_id IS NOT NULL${spec.targetType ? ` AND ${x}.target_type = ${q.p(spec.targetType)}` : ''}`
        );
      }
    } else {
      // Reverse: resources of sourceType whose reference points at one of the sources.
      const codes = referenceParams(spec.sourceType, spec.params);
      if (codes.length === 0) continue;
      for (const [type, ids] of byType) {
        if (spec.targetType && spec.targetType !== type) continue;
        const x = q.alias('x');
        candidateTypes.add(spec.sourceType);
        sets.push(
          `SELECT ${x}.rtype, ${x}.rid FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${q.p(spec.sourceType)} AND ${x}.param = ANY(${q.p(codes, 'text[]')}) AND ${x}.target_type = ${q.p(type)} AND ${x}.target_id = ANY(${q.p(ids, 'text[]')})`
        );
      }
    }
  }
  if (sets.length === 0) return undefined;
  const types = anyType ? allResourceTypes() : [...candidateTypes];
  const access = accessForTypes(q, types, 't', env);
  if (access === 'FALSE') return undefined;
  return `SELECT t.type, t.id, t.content FROM resource t WHERE t.tenant = $1 AND NOT t.deleted AND (t.type, t.id) IN (${sets.join(' UNION ')}) AND (${access}) LIMIT ${q.p(INCLUDE_LIMIT + 1, 'int')}`;
}
