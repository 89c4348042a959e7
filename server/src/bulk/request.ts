import type { Parameters } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../access/policy.ts';
import { isKnownResourceType } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';
import { checkTypeFilter, inPatientCompartment } from '../store/search/export.ts';
import { allResourceTypes } from '../store/search/parse.ts';

/**
 * The kick-off request of a Bulk Data $export (https://hl7.org/fhir/uv/bulkdata/export.html#query-parameters),
 * checked and resolved once, then stored with the job: the types to write, `_since`,
 * `_typeFilter` queries by type and, at Patient and Group level, the patients.
 */
export type ExportLevel = 'system' | 'patient' | 'group';

export interface ExportRequest {
  level: ExportLevel;
  /** Group level: the Group's id. */
  group?: string;
  /** Patient and Group level: these patients only (`patient` parameter, Group members); unset = any patient. */
  patients?: string[];
  types: string[];
  since?: string;
  typeFilters: Record<string, [string, string][][]>;
  /** The kick-off URL, for the manifest's `request`. */
  url: string;
  /** What `Prefer: handling=lenient` let through unapplied; written to the manifest's `error` file. */
  warnings: string[];
  lenient: boolean;
}

/** `_outputFormat` values that mean NDJSON (export.html: the server must accept these three). */
const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
/** Parameters the spec defines that this server does not implement. */
const NOT_IMPLEMENTED = new Set(['_elements', 'includeAssociatedData', 'organizeOutputBy', 'allowPartialManifests', '_until']);
/** A FHIR instant (R4 datatypes.html#instant): a time zone is required. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export interface KickoffInput {
  level: ExportLevel;
  group?: string;
  /** Query pairs of a GET, or the Parameters of a POST turned into pairs (`patient` kept apart). */
  pairs: [string, string][];
  /** `patient` references of a POST Parameters body. */
  patientRefs: string[];
  url: string;
  lenient: boolean;
  access: AccessPolicy;
  fhirBase: string;
}

/** The name/value pairs of a POST kick-off's Parameters body (export.html: "POST: via FHIR Parameters Resource"). */
export function parametersToPairs(body: unknown): { pairs: [string, string][]; patientRefs: string[] } {
  const p = body as Parameters | undefined;
  if (!p || p.resourceType !== 'Parameters') fail('invalid', 'A POST $export takes a Parameters resource as its body');
  const pairs: [string, string][] = [];
  const patientRefs: string[] = [];
  for (const [i, param] of (p.parameter ?? []).entries()) {
    if (param.name === 'patient') {
      const ref = param.valueReference?.reference;
      if (!ref) fail('invalid', 'Parameter patient needs a valueReference', `Parameters.parameter[${i}]`);
      patientRefs.push(ref);
      continue;
    }
    const value = param.valueString ?? param.valueInstant ?? param.valueCode ?? param.valueDateTime;
    if (typeof value !== 'string' || !param.name) fail('invalid', `Parameter ${param.name ?? '(no name)'} needs a string, code or instant value`, `Parameters.parameter[${i}]`);
    pairs.push([param.name, value]);
  }
  return { pairs, patientRefs };
}

export function parseKickoff(input: KickoffInput): ExportRequest {
  const warnings: string[] = [];
  const refuse = (param: string, why: string) => {
    if (!input.lenient) fail('invalid', why, param);
    warnings.push(`Parameter '${param}' was ignored: ${why}`);
  };
  let types: string[] | undefined;
  let since: string | undefined;
  const filterTexts: string[] = [];
  for (const [name, value] of input.pairs) {
    switch (name) {
      case '_outputFormat':
        if (!NDJSON_FORMATS.has(value)) fail('invalid', `_outputFormat '${value}' is not supported; use application/fhir+ndjson`, '_outputFormat');
        break;
      case '_since':
        if (!INSTANT.test(value)) fail('invalid', `Invalid _since '${value}': expected an instant with a time zone, e.g. 2024-01-01T00:00:00Z`, '_since');
        since = new Date(value).toISOString();
        break;
      case '_type': {
        const listed = value.split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of listed) if (!isKnownResourceType(t)) fail('invalid', `Unknown resource type '${t}' in _type`, '_type');
        types = [...new Set([...(types ?? []), ...listed])];
        break;
      }
      case '_typeFilter':
        filterTexts.push(...splitTypeFilters(value));
        break;
      case '_format':
        break;
      default:
        refuse(name, NOT_IMPLEMENTED.has(name) ? `${name} is not supported by this server` : `${name} is not a parameter of $export`);
    }
  }
  let patients: string[] | undefined;
  if (input.patientRefs.length) {
    if (input.level === 'system') fail('invalid', 'The patient parameter applies to Patient- and Group-level $export only', 'patient');
    patients = [...new Set(input.patientRefs.map(patientId))];
  }

  const compartmentOnly = input.level !== 'system';
  if (types) {
    if (compartmentOnly) {
      const outside = types.filter((t) => !inPatientCompartment(t));
      if (outside.length) fail('invalid', `${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} not in the Patient compartment: a ${input.level}-level export holds patient data only`, '_type');
    }
    // A type the client named that the token may not read is refused, as in search.
    const denied = types.filter((t) => !input.access.can(t, 'r'));
    if (denied.length) fail('forbidden', `The granted scopes do not allow reading ${denied.join(', ')}`, '_type');
  } else {
    // Everything the token may read; AuditEvents (the access log, not health data) only when named.
    types = allResourceTypes().filter((t) => t !== 'AuditEvent' && input.access.can(t, 'r') && (!compartmentOnly || inPatientCompartment(t)));
    if (types.length === 0) fail('forbidden', 'The granted scopes do not allow reading any resource type');
  }

  const typeFilters: Record<string, [string, string][][]> = {};
  for (const text of filterTexts) {
    const m = /^([A-Z][A-Za-z]+)\?(.*)$/s.exec(text);
    if (!m || !isKnownResourceType(m[1])) fail('invalid', `Invalid _typeFilter '${text}': expected [type]?[search parameters]`, '_typeFilter');
    const [, type, query] = m;
    if (!types.includes(type)) {
      refuse('_typeFilter', `${type} is not among the exported types`);
      continue;
    }
    const pairs = [...new URLSearchParams(query)] as [string, string][];
    warnings.push(...checkTypeFilter({ tenant: input.access.tenant, access: input.access, fhirBase: input.fhirBase, lenient: input.lenient }, type, pairs));
    (typeFilters[type] ??= []).push(pairs);
  }
  return { level: input.level, group: input.group, patients, types, since, typeFilters, url: input.url, warnings, lenient: input.lenient };
}

/**
 * `_typeFilter` values are comma-delimited queries; a comma inside a query (an OR of values)
 * does not start a new one, so split only where a `Type?` follows.
 */
function splitTypeFilters(value: string): string[] {
  return value.split(/,(?=[A-Z][A-Za-z]+\?)/).map((s) => s.trim()).filter(Boolean);
}

function patientId(ref: string): string {
  const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  if (!m) fail('invalid', `Invalid patient reference '${ref}': expected Patient/[id]`, 'patient');
  return m[1];
}
