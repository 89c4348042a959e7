import { fail } from '../../kernel/outcome.ts';
import { tableOf } from '../audit-table.ts';
import { type Compiled, type Compilers, type FilterEnv, setColumns, toPredicate, typeMatch } from './compiled.ts';
import type { Sql } from './sql.ts';
import { or } from './sql.ts';
import type { ChainFilter, Filter, HasFilter } from './types.ts';

/**
 * Chained and reverse-chained parameters (https://hl7.org/fhir/R4/search.html#chaining, #has),
 * entirely in SQL through idx_reference. Resources reached through a chain are subject to the
 * caller's access too: a chain through a type the caller may not search would otherwise reveal
 * what those resources contain.
 *
 * A chain's inner set is written `target_id = ANY(ARRAY(<inner>))`: PostgreSQL evaluates it once,
 * first (an InitPlan), then finds the references by target id. The inner set of a chain is nearly
 * always the selective side (one patient by identifier), and this keeps that order even when the
 * planner has no statistics (never-analyzed tables): 275 ms → 22 ms measured there, the same
 * ~1 ms with statistics. `_has` keeps a plain IN: its inner set (all Observations with a code) is
 * often large, and without statistics an array can end up as a per-row filter (O(n·m)).
 *
 * The inner filter and the caller's access come from `compilers` (compiled.ts: filters, chains
 * and access constraints recurse into each other; compile.ts ties them).
 */

/** The ids of live `type` resources matching `filter` that the caller may search. */
export function idSet(q: Sql, type: string, filter: Filter, env: FilterEnv, compilers: Compilers): string {
  const c = compilers.filter(q, [type], filter, env);
  const t = q.alias('t');
  const access = env.trusted ? 'TRUE' : compilers.access(q, type, t, env);
  // Index rows exist only for live resources, so a positive set needs no resource-table check.
  if ('set' in c && access === 'TRUE') return c.set;
  return `SELECT ${t}.id FROM ${tableOf(type)} ${t} WHERE ${t}.tenant = $1 AND ${t}.type = ${q.p(type)} AND NOT ${t}.deleted AND ${toPredicate(c, [type], t)} AND ${access}`;
}

/**
 * `subject:Patient.name=x`: resources whose `subject` reference points at a Patient matching
 * name=x. Without a type modifier every declared target having the next parameter is tried
 * (an OR across targets); targets the caller may not search are left out.
 */
export function compileChain(q: Sql, types: string[], f: ChainFilter, env: FilterEnv, compilers: Compilers): Compiled {
  const branches: { type: string; set: string }[] = [];
  for (const { type, filter } of f.targets) {
    if (!env.trusted && env.access.readConstraint(type, env.permission ?? 's').kind === 'deny') continue;
    branches.push({ type, set: idSet(q, type, filter, env, compilers) });
  }
  if (branches.length === 0) {
    fail('forbidden', `The granted scopes do not allow searching ${f.targets.map((t) => t.type).join(', ')} (chained in '${f.name}')`, f.name);
  }
  const x = q.alias('x');
  const target = or(branches.map((b) => `${x}.target_type = ${q.p(b.type)} AND ${x}.target_id = ANY(ARRAY(${b.set}))`));
  return {
    set: `SELECT ${setColumns(types, `${x}.rtype`, `${x}.rid`)} FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${typeMatch(q, `${x}.rtype`, types)} AND ${x}.param = ${q.p(f.param.code)} AND ${target}`,
  };
}

/**
 * `_has:Observation:patient:code=1234`: resources referred to, through Observation.patient, by an
 * Observation with code 1234. The inner filter may itself be another _has (nesting).
 */
export function compileHas(q: Sql, types: string[], f: HasFilter, env: FilterEnv, compilers: Compilers): Compiled {
  if (!env.trusted && env.access.readConstraint(f.type, env.permission ?? 's').kind === 'deny') {
    fail('forbidden', `The granted scopes do not allow searching ${f.type} (in '${f.name}')`, f.name);
  }
  const inner = idSet(q, f.type, f.filter, env, compilers);
  const x = q.alias('x');
  return {
    set: `SELECT ${setColumns(types, `${x}.target_type`, `${x}.target_id`)} FROM idx_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${q.p(f.type)} AND ${x}.param = ${q.p(f.refParam)} AND ${typeMatch(q, `${x}.target_type`, types)} AND ${x}.rid IN (${inner})`,
  };
}
