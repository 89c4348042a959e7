import { type Compiled, TABLE, setColumns, toPredicate, typeMatch } from './compiled.ts';
import type { Sql } from './sql.ts';
import { and, or } from './sql.ts';
import { dateCondition, instantCondition } from './sql-date.ts';
import { numberCondition, quantityCondition } from './sql-number.ts';
import { referenceCondition } from './sql-reference.ts';
import { stringCondition } from './sql-string.ts';
import { tokenCondition, tokenConditions } from './sql-token.ts';
import { uriCondition } from './sql-uri.ts';
import type { AtomValue, CompositeValue, ParamFilter, TextValue, TokenValue } from './types.ts';

/**
 * One search parameter's values compiled over its index rows (chains and _has: chain.ts; the
 * dispatch between them: compile.ts). Positive filters become a *set* of matching resource ids
 * read from one index (`SELECT rid FROM idx_x WHERE tenant = $1 AND rtype = $2 AND param = $3 AND
 * <value>`), which the caller tests with `r.id IN (…)`, so the planner drives from the (tenant,
 * rtype, param, value…) index. Negations (:not, :missing=true) become a correlated NOT EXISTS on
 * the by-resource index. With several searched types (system search, _type) the sets carry
 * (rtype, rid) pairs.
 */
export function compileParam(q: Sql, types: string[], f: ParamFilter, fhirBase: string): Compiled {
  const { param, modifier } = f;
  // _id and _lastUpdated live on the resource row itself (R4 search.html#all).
  if (param.code === '_id') {
    const ids = f.values.map((v) => (v as TokenValue).code as string);
    return { where: (a) => (ids.length === 1 ? `${a}.id = ${q.p(ids[0])}` : `${a}.id = ANY(${q.p(ids, 'text[]')})`) };
  }
  if (param.code === '_lastUpdated') {
    return { where: (a) => or(f.values.map((v) => (v.kind === 'date' ? instantCondition(q, `${a}.last_updated`, v) : 'FALSE'))) };
  }
  if (param.type === 'composite' && f.missing === undefined) return compileComposite(q, types, f, fhirBase);

  // :identifier and :of-type have their own token rows (see ../indexer.ts).
  let table = TABLE[param.type];
  let code = param.code;
  if (param.type === 'composite') {
    // :missing on a composite: does the first component have any row (code#0, or the component's
    // own parameter for a composite rooted at the resource)?
    const first = param.components?.[0]?.param;
    table = TABLE[first?.type ?? 'token'];
    code = param.rootComposite ? (first?.code ?? param.code) : `${param.code}#0`;
  } else if (modifier === 'identifier') {
    table = 'idx_token';
    code = `${param.code}:identifier`;
  } else if (modifier === 'of-type') {
    code = `${param.code}:of-type`;
  }

  const x = q.alias('x');
  if (f.missing !== undefined) {
    // :missing (R4 search.html#modifiers): true = no value at all for the parameter.
    if (f.missing) {
      return {
        where: (a) =>
          `NOT EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${a}.type AND ${x}.rid = ${a}.id AND ${x}.param = ${q.p(code)})`,
      };
    }
    return { set: `SELECT ${setColumns(types, `${x}.rtype`, `${x}.rid`)} FROM ${table} ${x} WHERE ${x}.tenant = $1 AND ${typeMatch(q, `${x}.rtype`, types)} AND ${x}.param = ${q.p(code)}` };
  }

  if (modifier === 'not') {
    // :not (R4 search.html#token): resources with no matching value, including those with no
    // value at all; `code:not=a,b` excludes resources having a or b.
    return {
      where: (a) =>
        `NOT EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.tenant = $1 AND ${x}.rtype = ${a}.type AND ${x}.rid = ${a}.id AND ${x}.param = ${q.p(code)} AND (${valueConditions(q, x, f, fhirBase)}))`,
    };
  }
  return {
    set: `SELECT ${setColumns(types, `${x}.rtype`, `${x}.rid`)} FROM ${table} ${x} WHERE ${x}.tenant = $1 AND ${typeMatch(q, `${x}.rtype`, types)} AND ${x}.param = ${q.p(code)} AND (${valueConditions(q, x, f, fhirBase)})`,
  };
}

/** The OR of a parameter's comma-separated values, as conditions on index row `x`. */
function valueConditions(q: Sql, x: string, f: ParamFilter, fhirBase: string): string {
  if (f.param.type === 'token' || f.modifier === 'identifier') {
    return tokenConditions(q, x, f.values as (TokenValue | TextValue)[]);
  }
  const conds = f.values.map((v) => atomCondition(q, x, v as AtomValue, f.modifier, fhirBase));
  return f.allOf ? and(conds) : or(conds);
}

export function atomCondition(q: Sql, x: string, v: AtomValue, modifier: string | undefined, fhirBase: string): string {
  switch (v.kind) {
    case 'token':
      return tokenCondition(q, x, v);
    case 'text':
      return tokenConditions(q, x, [v]);
    case 'string':
      return stringCondition(q, x, v, modifier);
    case 'date':
      return dateCondition(q, `${x}.low`, `${x}.high`, v);
    case 'number':
      return numberCondition(q, x, v);
    case 'quantity':
      return quantityCondition(q, x, v);
    case 'reference':
      return referenceCondition(q, x, v, fhirBase);
    case 'uri':
      return uriCondition(q, x, v, modifier);
  }
}

/**
 * Composite (R4 search.html#composite): all components must match within ONE occurrence. The
 * indexer stores component i as param `code#i` with a `grp` shared by one occurrence, so the
 * component rows are joined on (rtype, rid, grp). A composite rooted at the resource itself is
 * matched through its components' own parameters instead.
 */
function compileComposite(q: Sql, types: string[], f: ParamFilter, fhirBase: string): Compiled {
  const comps = f.param.components ?? [];
  if (f.param.rootComposite) {
    // A composite over the resource itself (Observation code-value-quantity): its components are
    // the resource's own parameters, indexed once under their own codes (see definitions.ts), so
    // each component is matched against that parameter's rows; the resource is the occurrence.
    return {
      where: (a) =>
        or(
          f.values.map((v) =>
            and(
              (v as CompositeValue).parts.map((part, i) => {
                const own = comps[i].param;
                const x = q.alias('x');
                const set = `SELECT ${setColumns(types, `${x}.rtype`, `${x}.rid`)} FROM ${TABLE[own.type]} ${x} WHERE ${x}.tenant = $1 AND ${typeMatch(q, `${x}.rtype`, types)} AND ${x}.param = ${q.p(own.code)} AND (${atomCondition(q, x, part, undefined, fhirBase)})`;
                return toPredicate({ set }, types, a);
              })
            )
          )
        ),
    };
  }
  const aliases = comps.map(() => q.alias('c'));
  const c0 = aliases[0];
  const joins = comps
    .slice(1)
    .map((c, i) => {
      const a = aliases[i + 1];
      return `JOIN ${TABLE[c.param.type]} ${a} ON ${a}.tenant = $1 AND ${a}.rtype = ${c0}.rtype AND ${a}.rid = ${c0}.rid AND ${a}.grp = ${c0}.grp AND ${a}.param = ${q.p(`${f.param.code}#${i + 1}`)}`;
    })
    .join(' ');
  const match = or(f.values.map((v) => and((v as CompositeValue).parts.map((part, i) => atomCondition(q, aliases[i], part, undefined, fhirBase)))));
  return {
    set: `SELECT ${setColumns(types, `${c0}.rtype`, `${c0}.rid`)} FROM ${TABLE[comps[0].param.type]} ${c0} ${joins} WHERE ${c0}.tenant = $1 AND ${typeMatch(q, `${c0}.rtype`, types)} AND ${c0}.param = ${q.p(`${f.param.code}#0`)} AND (${match})`,
  };
}
