import { type InternalSchemaElement, type InternalTypeSchema, isPrimitiveType, isResourceType, tryGetDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { expandValueSet } from '../kernel/valuesets.ts';

/**
 * The R4 rules @medplum/core's validateResource leaves unchecked (./validate.ts runs both):
 * - a complex-typed element holds a JSON object (it accepts `"subject": 1.5`, `"valueQuantity": true`);
 * - no empty arrays and no empty strings (https://hl7.org/fhir/R4/json.html: "empty arrays and
 *   empty strings are not allowed"; it refuses only whitespace-only strings);
 * - a dateTime with a time has seconds and a zone (the R4 dateTime regex; it allows neither);
 * - one choice per `[x]` element (it only warns);
 * - required bindings: a `code`, Coding or CodeableConcept bound `required` holds a code of the
 *   value set, where the value set can be expanded locally (../kernel/valuesets.ts).
 * Unknown elements, nulls and JSON types of primitives are its part, so they are skipped here.
 */
export interface Problem {
  path: string;
  text: string;
}

/** R4 datatypes.html#dateTime, verbatim. */
const DATE_TIME =
  /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/;

interface Slot {
  element: InternalSchemaElement;
  /** The concrete type of the property (for `valueQuantity`, Quantity). */
  type: string;
  /** The `[x]` element the property is one choice of. */
  choice?: string;
}

/** Per type schema, each JSON property name → its element: built once, so a write does lookups only. */
const slotCache = new WeakMap<InternalTypeSchema, Map<string, Slot>>();

function slotsOf(schema: InternalTypeSchema): Map<string, Slot> {
  let slots = slotCache.get(schema);
  if (slots) return slots;
  slots = new Map();
  for (const [name, element] of Object.entries(schema.elements)) {
    if (name.endsWith('[x]')) {
      const base = name.slice(0, -3);
      for (const t of element.type) slots.set(base + t.code.charAt(0).toUpperCase() + t.code.slice(1), { element, type: t.code, choice: name });
    } else if (element.type.length) {
      slots.set(name, { element, type: element.type[0].code });
    }
  }
  slotCache.set(schema, slots);
  return slots;
}

export function conformanceProblems(resource: Resource): Problem[] {
  const problems: Problem[] = [];
  const schema = tryGetDataType(resource.resourceType);
  if (schema) walkObject(resource as unknown as Record<string, unknown>, schema, resource.resourceType, problems);
  return problems;
}

function walkObject(obj: Record<string, unknown>, schema: InternalTypeSchema, path: string, out: Problem[]): void {
  const slots = slotsOf(schema);
  let chosen: Map<string, string> | undefined;
  for (const key in obj) {
    const value = obj[key];
    if (key === 'resourceType' || value === undefined || value === null) continue;
    const here = `${path}.${key}`;
    if (Array.isArray(value) && value.length === 0) {
      out.push({ path: here, text: 'An array may not be empty: leave the element out instead' });
      continue;
    }
    if (key.startsWith('_')) continue; // a primitive's id/extensions: the Element rules are the validator's
    const slot = slots.get(key);
    if (!slot) continue;
    if (slot.choice) {
      chosen ??= new Map();
      const other = chosen.get(slot.choice);
      if (other) out.push({ path: here, text: `Only one type of ${path}.${slot.choice} may be present, not both ${other} and ${key}` });
      else chosen.set(slot.choice, key);
    }
    if (Array.isArray(value)) {
      if (!slot.element.isArray) continue; // "Expected single value": the validator's
      for (let i = 0; i < value.length; i++) walkValue(value[i], slot, `${here}[${i}]`, out);
    } else if (!slot.element.isArray) {
      walkValue(value, slot, here, out);
    }
  }
}

function walkValue(value: unknown, slot: Slot, path: string, out: Problem[]): void {
  if (value === null || value === undefined) return;
  const { type, element } = slot;
  const required = element.binding?.strength === 'required' ? element.binding.valueSet : undefined;
  if (isPrimitiveType(type)) {
    if (typeof value !== 'string') return; // wrong JSON types of primitives: the validator's
    if (value === '') {
      out.push({ path, text: 'A string may not be empty: leave the element out instead' });
    } else if (type === 'dateTime' && !DATE_TIME.test(value)) {
      out.push({ path, text: 'Invalid dateTime: a time needs hours, minutes, seconds and a time zone (Z or ±hh:mm)' });
    } else if (type === 'code' && required) {
      const vs = expandValueSet(required);
      if (vs && !vs.codes.has(value)) out.push({ path, text: `The code is not in the required value set ${required.split('|')[0]}` });
    }
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.push({ path, text: `Expected a ${type} (a JSON object), but got ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}` });
    return;
  }
  const obj = value as Record<string, unknown>;
  if (required && (type === 'Coding' || type === 'CodeableConcept')) checkCoded(obj, type, required, path, out);
  // Resource-typed elements (contained, Bundle.entry.resource, Parameters' resource) take the schema of what they hold.
  const rt = obj.resourceType;
  const schema = type === 'Resource' || type === 'DomainResource' ? (typeof rt === 'string' && isResourceType(rt) ? tryGetDataType(rt) : undefined) : tryGetDataType(type);
  if (schema) walkObject(obj, schema, path, out);
}

/**
 * A required binding on a Coding: its system and code are in the value set. On a CodeableConcept:
 * one of its codings is (https://hl7.org/fhir/R4/terminologies.html#required), so text alone does
 * not meet it.
 */
function checkCoded(obj: Record<string, unknown>, type: string, valueSet: string, path: string, out: Problem[]): void {
  const vs = expandValueSet(valueSet);
  if (!vs) return;
  const inSet = (c: unknown): boolean => {
    const { system, code } = (c ?? {}) as { system?: unknown; code?: unknown };
    return typeof system === 'string' && typeof code === 'string' && Boolean(vs.systems.get(system)?.has(code));
  };
  const codings = type === 'Coding' ? [obj] : Array.isArray(obj.coding) ? obj.coding : [];
  if (!codings.some(inSet)) {
    out.push({ path, text: `${type === 'Coding' ? 'The coding is' : 'No coding is'} from the required value set ${valueSet.split('|')[0]} (system and code)` });
  }
}
