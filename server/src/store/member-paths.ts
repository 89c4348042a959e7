import {
  DotAtom,
  FhirPathAtom,
  FunctionAtom,
  SymbolAtom,
  type TypedValue,
  UnionAtom,
  getTypedPropertyValue,
  isResource,
  removeDuplicates,
} from '@medplum/core';
import type { ResourceType } from '@medplum/fhirtypes';

/**
 * The search parameters' FHIRPath expressions that are member paths (`Observation.code`,
 * `Claim.item.detail.udi`), unions of them and `ofType(T)` (`Observation.value.ofType(Quantity) |
 * Observation.component.value.ofType(Quantity)`), compiled into functions that give exactly what
 * @medplum/core's evaluator gives, without what indexing does not use: @medplum/core tracks the
 * path of every value it visits (a new object and string per value), which cost the indexer more
 * than reading the values (issue 12, profile of bundle ingest). Anything else (where(), resolve(),
 * as, variables) returns undefined here and is evaluated by @medplum/core.
 *
 * Union: @medplum/core removes duplicates, comparing primitive values by value and objects with
 * their paths, so two objects are duplicates only when they are the same element reached twice.
 * A union is compiled only when its branches cannot reach the same element (their member chains
 * differ, or they select different types at the same step): then objects are never duplicates,
 * and primitives are compared as @medplum/core compares them.
 */
export type MemberPath = (input: TypedValue[]) => TypedValue[];

type Step = { member: string } | { ofType: string };
interface Compiled {
  run: MemberPath;
  /** The step lists of the union's branches (one for a plain chain). */
  branches: Step[][];
}

const cache = new WeakMap<object, MemberPath | null>();

/** The compiled expression, or undefined when it must be evaluated by @medplum/core. */
export function memberPath(expression: object): MemberPath | undefined {
  let compiled = cache.get(expression);
  if (compiled === undefined) {
    const c = expression instanceof FhirPathAtom ? compile(expression.child) : undefined;
    compiled = c?.run ?? null;
    cache.set(expression, compiled);
  }
  return compiled ?? undefined;
}

/** As evalFhirPathTyped gives them: the values unwrapped (a primitive with an extension is a String object until here). */
export function evalMemberPath(path: MemberPath, input: TypedValue[]): TypedValue[] {
  return path(input).map((v) => ({ type: v.type, value: v.value?.valueOf() }));
}

const PLAIN_OBJECT: Record<string, unknown> = {};

function compile(atom: unknown): Compiled | undefined {
  if (atom instanceof SymbolAtom) {
    const name = atom.name;
    // Variables ($this, %resource) and names an empty variables object answers (constructor) are @medplum/core's.
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name) || name in PLAIN_OBJECT) return undefined;
    return { run: (input) => member(input, name), branches: [[{ member: name }]] };
  }
  if (atom instanceof DotAtom) {
    const left = compile(atom.left);
    const right = atom.right instanceof FunctionAtom ? ofType(atom.right) : compile(atom.right);
    if (!left || !right || left.branches.length !== 1 || right.branches.length !== 1) return undefined;
    const l = left.run;
    const r = right.run;
    return { run: (input) => r(l(input)), branches: [[...left.branches[0], ...right.branches[0]]] };
  }
  if (atom instanceof UnionAtom) {
    const left = compile(atom.left);
    const right = compile(atom.right);
    if (!left || !right) return undefined;
    const branches = [...left.branches, ...right.branches];
    if (!disjoint(branches)) return undefined;
    const l = left.run;
    const r = right.run;
    return { run: (input) => union([...l(input), ...r(input)]), branches };
  }
  return undefined;
}

/** `ofType(T)` is @medplum/core's own function; it reads only the values' types. */
function ofType(fn: FunctionAtom): Compiled | undefined {
  if (fn.name !== 'ofType' || fn.args.length !== 1 || !(fn.args[0] instanceof SymbolAtom)) return undefined;
  const type = fn.args[0].name;
  const context = { variables: {} };
  return { run: (input) => fn.eval(context, input), branches: [[{ ofType: type }]] };
}

/** As SymbolAtom.eval without paths: a resource of that type is itself, else the typed property. */
function member(input: TypedValue[], name: string): TypedValue[] {
  const out: TypedValue[] = [];
  for (const tv of input) {
    const value = tv.value;
    if (!value || typeof value !== 'object') continue;
    if (isResource(value, name as ResourceType)) {
      out.push(tv);
      continue;
    }
    const found = getTypedPropertyValue(tv, name);
    if (Array.isArray(found)) {
      for (const f of found) if (f?.value !== undefined) out.push(f);
    } else if (found?.value !== undefined) {
      out.push(found);
    }
  }
  return out;
}

/** Branches that cannot reach one element: different member chains, or different types chosen at one step. */
function disjoint(branches: Step[][]): boolean {
  const members = (b: Step[]) => b.flatMap((s) => ('member' in s ? [s.member] : [])).join('.');
  for (let i = 0; i < branches.length; i++) {
    for (let j = i + 1; j < branches.length; j++) {
      if (members(branches[i]) !== members(branches[j])) continue;
      const a = branches[i];
      const b = branches[j];
      if (a.length !== b.length) return false;
      const differ = a.some((s, k) => 'ofType' in s && 'ofType' in b[k] && s.ofType !== (b[k] as { ofType: string }).ofType);
      if (!differ) return false;
    }
  }
  return true;
}

/** removeDuplicates of values from disjoint branches: only primitives can be equal. */
function union(values: TypedValue[]): TypedValue[] {
  const out: TypedValue[] = [];
  const primitives: TypedValue[] = [];
  for (const v of values) {
    if (typeof v.value?.valueOf() === 'object') {
      out.push(v);
      continue;
    }
    if (primitives.some((p) => removeDuplicates([p, v]).length === 1)) continue;
    primitives.push(v);
    out.push(v);
  }
  return out;
}
