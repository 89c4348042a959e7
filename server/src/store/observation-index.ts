import type { CodeableConcept, Coding, Observation, Quantity, Reference } from '@medplum/fhirtypes';
import { dateRange } from './date-range.ts';
import { type IndexRows, emptyRows } from './index-rows.ts';
import { exact, normalizeString, quantityRow } from './index-values.ts';

/**
 * Search-index rows of an Observation in the shape the server derives from a QuestionnaireResponse
 * (clinical/scoring scoreObservations, clinical/extract: a score or an item's answer), built
 * directly instead of evaluating the type's 45 search parameters as FHIRPath: a PHQ-9 submission
 * stores ten of them, and the general indexer (./indexer.ts) was a tenth of its server time.
 * The rows are exactly the general indexer's, in its order; observation-index.test.ts compares
 * them for every shipped instrument and for variations of the shape. Any Observation outside the
 * shape (another element, a reference that is not a plain local one, a value of another type…)
 * returns undefined and goes through the general indexer.
 *
 * The shape: status, category, code, subject (a Patient), effectiveDateTime, valueQuantity or
 * valueCodeableConcept, derivedFrom / performer / basedOn / partOf / encounter (local references),
 * interpretation (not a search parameter), meta with versionId, lastUpdated, profile and tag.
 */
const KEYS = new Set([
  'resourceType',
  'id',
  'meta',
  'status',
  'category',
  'code',
  'subject',
  'effectiveDateTime',
  'valueQuantity',
  'valueCodeableConcept',
  'derivedFrom',
  'performer',
  'basedOn',
  'partOf',
  'encounter',
  'interpretation',
]);
const META_KEYS = new Set(['versionId', 'lastUpdated', 'profile', 'tag']);
const CONCEPT_KEYS = new Set(['coding', 'text']);
const CODING_KEYS = new Set(['system', 'code', 'display']);
const QUANTITY_KEYS = new Set(['value', 'unit', 'system', 'code']);
const REFERENCE_KEYS = new Set(['reference', 'display']);
/** A local reference without a version (the indexer's LOCAL_REF also takes `/_history/n`; not needed here). */
const LOCAL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

export function scoreObservationRows(o: Observation, fhirBase?: string): IndexRows | undefined {
  if (!inShape(o, fhirBase)) return undefined;
  const rows = emptyRows();
  const token = (param: string, grp: number | null, system: unknown, code: unknown, text: unknown) => {
    const sys = typeof system === 'string' ? system : null;
    const c = typeof code === 'string' ? code : null;
    const t = typeof text === 'string' && text ? normalizeString(text) : null;
    if (sys === null && c === null && t === null) return;
    rows.token.push({ param, grp, system: sys, code: c, text: t });
  };
  const concept = (param: string, grp: number | null, cc: CodeableConcept | undefined) => {
    if (!cc) return;
    for (const c of cc.coding ?? []) token(param, grp, c.system, c.code, c.display);
    if (cc.text) token(param, grp, null, null, cc.text);
  };
  const reference = (param: string, r: Reference | undefined) => {
    const m = r?.reference ? LOCAL.exec(r.reference) : null;
    if (m) rows.reference.push({ param, grp: null, targetType: m[1], targetId: m[2], url: null });
  };
  const quantity = (param: string, q: Quantity | undefined) => {
    if (q && typeof q.value === 'number') rows.quantity.push(quantityRow(param, null, exact(q), exact(q), q.system, q.code, q.unit));
  };

  // In the order of the type's search parameters (kernel/definitions.ts searchParamsFor).
  for (const p of o.meta?.profile ?? []) rows.uri.push({ param: '_profile', grp: null, value: p });
  for (const tag of o.meta?.tag ?? []) token('_tag', null, tag.system, tag.code, tag.display);
  concept('code', null, o.code);
  const effective = o.effectiveDateTime ? dateRange(o.effectiveDateTime) : undefined;
  if (effective) rows.date.push({ param: 'date', grp: null, low: effective.low, high: effective.high });
  reference('patient', o.subject);
  reference('encounter', o.encounter);
  for (const r of o.basedOn ?? []) reference('based-on', r);
  for (const c of o.category ?? []) concept('category', null, c);
  concept('combo-code', null, o.code);
  concept('combo-value-concept', null, o.valueCodeableConcept);
  quantity('combo-value-quantity', o.valueQuantity);
  for (const r of o.derivedFrom ?? []) reference('derived-from', r);
  for (const r of o.partOf ?? []) reference('part-of', r);
  for (const r of o.performer ?? []) reference('performer', r);
  if (o.status) token('status', null, null, o.status, null);
  reference('subject', o.subject);
  concept('value-concept', null, o.valueCodeableConcept);
  quantity('value-quantity', o.valueQuantity);
  if (o.valueCodeableConcept?.text) rows.string.push({ param: 'value-string', grp: null, norm: normalizeString(o.valueCodeableConcept.text), exact: o.valueCodeableConcept.text });
  // code-value-date is the one code-value composite not answered from its components' own rows
  // (kernel/definitions.ts rootComposite): its code part is indexed, with the value absent.
  concept('code-value-date#0', 0, o.code);
  return rows;
}

function inShape(o: Observation, fhirBase: string | undefined): boolean {
  if (!onlyKeys(o, KEYS) || (o.meta !== undefined && !onlyKeys(o.meta, META_KEYS))) return false;
  if (o.meta?.profile !== undefined && !(Array.isArray(o.meta.profile) && o.meta.profile.every((p) => typeof p === 'string'))) return false;
  if (o.meta?.tag !== undefined && !(Array.isArray(o.meta.tag) && o.meta.tag.every(isCoding))) return false;
  if (o.status !== undefined && typeof o.status !== 'string') return false;
  if (o.effectiveDateTime !== undefined && typeof o.effectiveDateTime !== 'string') return false;
  if (o.category !== undefined && !(Array.isArray(o.category) && o.category.every(isConcept))) return false;
  if (o.code !== undefined && !isConcept(o.code)) return false;
  if (o.valueCodeableConcept !== undefined && !isConcept(o.valueCodeableConcept)) return false;
  if (o.valueQuantity !== undefined && !(isObject(o.valueQuantity) && onlyKeys(o.valueQuantity, QUANTITY_KEYS) && ['value', 'unit', 'system', 'code'].every((k) => k === 'value' || optionalString((o.valueQuantity as Record<string, unknown>)[k])))) return false;
  // patient is `subject.where(resolve() is Patient)`: a Patient subject only.
  if (o.subject !== undefined && !(isLocal(o.subject, fhirBase) && o.subject.reference?.startsWith('Patient/'))) return false;
  if (o.encounter !== undefined && !isLocal(o.encounter, fhirBase)) return false;
  for (const list of [o.derivedFrom, o.performer, o.basedOn, o.partOf] as unknown[]) {
    if (list !== undefined && !(Array.isArray(list) && list.every((r) => isLocal(r, fhirBase)))) return false;
  }
  return true;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
const onlyKeys = (v: unknown, keys: Set<string>) => isObject(v) && Object.keys(v).every((k) => keys.has(k));
const isCoding = (c: unknown): c is Coding => onlyKeys(c, CODING_KEYS) && [...CODING_KEYS].every((k) => optionalString((c as Record<string, unknown>)[k]));
const isConcept = (cc: unknown): cc is CodeableConcept =>
  onlyKeys(cc, CONCEPT_KEYS) && optionalString((cc as CodeableConcept).text) && ((cc as CodeableConcept).coding === undefined || (Array.isArray((cc as CodeableConcept).coding) && ((cc as CodeableConcept).coding as unknown[]).every(isCoding)));
/** A plain local reference (`Type/id`), not one written against our own base (which the indexer also takes as local). */
function isLocal(r: unknown, fhirBase: string | undefined): r is Reference {
  if (!onlyKeys(r, REFERENCE_KEYS) || !optionalString((r as Reference).display)) return false;
  const ref = (r as Reference).reference;
  return typeof ref === 'string' && LOCAL.test(ref) && !(fhirBase && ref.startsWith(fhirBase));
}
