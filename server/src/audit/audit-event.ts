import { generateId } from '@medplum/core';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { DISCLOSURE_SUBTYPE } from '../access/accounting.ts';
import type { AccessContext } from '../access/context.ts';
import {
  CLIENT_ID_SYSTEM,
  DCM,
  INTERACTION_ACTION,
  OBJECT_ROLE,
  OBJECT_TYPE,
  RESTFUL_INTERACTION,
  REST_TYPE,
  SECURITY_SOURCE_TYPE,
  USERNAME_SYSTEM,
  USER_ID_SYSTEM,
  USER_ROLE_SYSTEM,
  V3_ACT_REASON,
  V3_PARTICIPATION_TYPE,
  outcomeOf,
} from './codes.ts';
import { type DisclosedResource, EXPORT_JOB_SYSTEM, JOB_ROLE, patientDetails } from './disclosure.ts';

/**
 * Builds R4 AuditEvents (https://hl7.org/fhir/R4/auditevent.html), following the shape of the
 * IHE Basic Audit Log Patterns (BALP) for RESTful activity: the person and the client app as
 * agents, this server as source, the resources touched, the query, and one entity per patient.
 * Nothing here logs; the events themselves are PHI and live only in the database.
 */
const LIFECYCLE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle';

let sourceUrl = 'urn:bh-fhir:server';

/** The server's own identity for AuditEvent.source; set once at startup from the base URL. */
export function setAuditSource(fhirBase: string): void {
  sourceUrl = fhirBase;
}

function source(tenant: string): AuditEvent['source'] {
  return {
    site: tenant,
    observer: { identifier: { system: 'urn:ietf:rfc:3986', value: sourceUrl }, display: 'bh-fhir FHIR server' },
    type: [{ system: SECURITY_SOURCE_TYPE, code: '4', display: 'Application Server' }],
  };
}

export interface Who {
  context: AccessContext | undefined;
  ip?: string;
  /** True when the person writes (author) rather than receives (information recipient). */
  author?: boolean;
  /** A login name typed where no user matched (failed login). */
  username?: string;
}

/**
 * agent[0]: the person (fhirUser, roles) when there is one, the requestor; agent[1]: the client
 * app, identified by its client_id, requestor when no person is; for a backend client registered
 * with an organization, a last agent: that organization as information recipient. Agent types: v3-ParticipationType
 * IRCP (information recipient) / AUT (author) for the person as BALP does, and DICOM 110153
 * "Source Role ID" for the client application.
 */
export function agents(who: Who): AuditEventAgent[] {
  const c = who.context;
  const out: AuditEventAgent[] = [];
  const network = who.ip ? { address: who.ip, type: '2' as const } : undefined;
  const purpose = c?.purposeOfUse ? [{ coding: [{ system: V3_ACT_REASON, code: c.purposeOfUse }] }] : undefined;
  const person = Boolean(c?.fhirUser || c?.userId || who.username);
  if (person) {
    const role = who.author
      ? { system: V3_PARTICIPATION_TYPE, code: 'AUT', display: 'author (originator)' }
      : { system: V3_PARTICIPATION_TYPE, code: 'IRCP', display: 'information recipient' };
    out.push({
      type: { coding: [role] },
      who: c?.fhirUser
        ? { reference: c.fhirUser }
        : c?.userId
          ? { identifier: { system: USER_ID_SYSTEM, value: c.userId } }
          : { identifier: { system: USERNAME_SYSTEM, value: who.username } },
      ...(c?.userId ? { altId: c.userId } : {}),
      requestor: true,
      ...(c?.roles?.length ? { role: c.roles.map((r) => ({ coding: [{ system: USER_ROLE_SYSTEM, code: r }] })) } : {}),
      ...(network ? { network } : {}),
      ...(purpose ? { purposeOfUse: purpose } : {}),
    });
  }
  out.push({
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: c?.clientId ? { identifier: { system: CLIENT_ID_SYSTEM, value: c.clientId } } : { display: 'bh-fhir server (internal)' },
    requestor: !person,
    ...(network ? { network } : {}),
    ...(!person && purpose ? { purposeOfUse: purpose } : {}),
  });
  // A backend client's registered organization: who receives what the client reads (BALP's
  // information recipient), with the purpose it receives it for.
  if (!person && c?.organization) {
    out.push({
      type: { coding: [{ system: V3_PARTICIPATION_TYPE, code: 'IRCP', display: 'information recipient' }] },
      who: { reference: c.organization },
      requestor: false,
      ...(purpose ? { purposeOfUse: purpose } : {}),
    });
  }
  return out;
}

export function patientEntity(id: string): AuditEventEntity {
  return {
    what: { reference: `Patient/${id}` },
    type: { system: OBJECT_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  };
}

export function resourceEntity(reference: string): AuditEventEntity {
  return {
    what: { reference },
    type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  };
}

/** The Bulk Data $export job a downloaded file came from (object-role 20 "Job"); names no patient. */
export function exportJobEntity(job: string, file: string): AuditEventEntity {
  return {
    what: { identifier: { system: EXPORT_JOB_SYSTEM, value: job } },
    type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: JOB_ROLE, display: 'Job' },
    description: `$export file ${file}`,
  };
}

/** entity.query is base64Binary: the query string as sent. It may hold PHI (names): never logged. */
export function queryEntity(query: string, description?: string): AuditEventEntity {
  return {
    type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
    query: Buffer.from(query, 'utf8').toString('base64'),
    ...(description ? { description } : {}),
  };
}

export interface RestEventInput extends Who {
  tenant: string;
  /** restful-interaction code (read, search-type, create, …). */
  interaction: string;
  /** HTTP status of the answer. */
  status: number;
  /** Short, PHI-free description of a failure. */
  outcomeDesc?: string;
  /** References of the resources touched ('Observation/1/_history/2'). */
  what?: string[];
  /** DICOM lifecycle codes of the `what` entities, by position (transaction bundles). */
  lifecycle?: string[];
  /** Resources written but not named (over the cap of one event). */
  moreEntities?: number;
  /** Search or operation query string (without '?'). */
  query?: string;
  /** What the query entity describes ('Observation search', '$everything'). */
  queryDescription?: string;
  /** Ids of the patients whose data was returned or written. */
  patients?: Iterable<string>;
  /**
   * A disclosure (access/accounting.ts `isDisclosure`): the resources that left, each with its
   * patients (./disclosure.ts), and how many more were not named. Marks the event with subtype
   * `disclosure`.
   */
  disclosed?: { resources: DisclosedResource[]; more: number };
  /** Further entities (the $export job of a downloaded file), before the patients. */
  entities?: AuditEventEntity[];
  recorded?: string;
}

export function restAuditEvent(input: RestEventInput): AuditEvent {
  const subtype: Coding[] = [{ system: RESTFUL_INTERACTION, code: input.interaction }];
  // A disclosed resource named by the request itself (a read's Type/id/_history/v) is one entity.
  const disclosed = new Map((input.disclosed?.resources ?? []).map((d) => [d.reference, d.patients]));
  const entity: AuditEventEntity[] = (input.what ?? []).map((w, i) => {
    const e = resourceEntity(w);
    const lc = input.lifecycle?.[i];
    const patients = disclosed.get(w);
    disclosed.delete(w);
    return { ...e, ...(lc ? { lifecycle: { system: LIFECYCLE_SYSTEM, code: lc } } : {}), ...(patients?.length ? { detail: patientDetails(patients) } : {}) };
  });
  if (input.moreEntities) {
    entity.push({ type: { system: OBJECT_TYPE, code: '2', display: 'System Object' }, description: `${input.moreEntities} more resources written, not listed` });
  }
  if (input.disclosed) {
    subtype.push({ ...DISCLOSURE_SUBTYPE });
    for (const [reference, patients] of disclosed) {
      entity.push({ ...resourceEntity(reference), ...(patients.length ? { detail: patientDetails(patients) } : {}) });
    }
    if (input.disclosed.more) {
      entity.push({ type: { system: OBJECT_TYPE, code: '2', display: 'System Object' }, description: `${input.disclosed.more} more resources disclosed, not listed` });
    }
  }
  if (input.query !== undefined) entity.push(queryEntity(input.query, input.queryDescription));
  entity.push(...(input.entities ?? []));
  for (const p of input.patients ?? []) entity.push(patientEntity(p));
  const outcome = outcomeOf(input.status);
  const purpose = input.context?.purposeOfUse;
  return {
    resourceType: 'AuditEvent',
    id: generateId(),
    meta: { versionId: '1', lastUpdated: input.recorded ?? new Date().toISOString() },
    type: REST_TYPE,
    subtype,
    action: INTERACTION_ACTION[input.interaction] ?? 'E',
    recorded: input.recorded ?? new Date().toISOString(),
    outcome,
    ...(outcome !== '0' ? { outcomeDesc: input.outcomeDesc ?? `HTTP ${input.status}` } : {}),
    ...(purpose ? { purposeOfEvent: [{ coding: [{ system: V3_ACT_REASON, code: purpose }] }] } : {}),
    agent: agents(input),
    source: source(input.tenant),
    ...(entity.length ? { entity } : {}),
  } as AuditEvent;
}

export interface OtherEventInput extends Who {
  tenant: string;
  type: Coding;
  subtype: Coding[];
  action: AuditEvent['action'];
  success: boolean;
  outcomeDesc?: string;
  entity?: AuditEventEntity[];
}

/** Non-REST events (authentication, tokens, consent decisions). */
export function otherAuditEvent(input: OtherEventInput): AuditEvent {
  const recorded = new Date().toISOString();
  const purpose = input.context?.purposeOfUse;
  return {
    resourceType: 'AuditEvent',
    id: generateId(),
    meta: { versionId: '1', lastUpdated: recorded },
    type: input.type,
    subtype: input.subtype,
    action: input.action,
    recorded,
    outcome: input.success ? '0' : '4',
    ...(input.outcomeDesc ? { outcomeDesc: input.outcomeDesc } : {}),
    ...(purpose ? { purposeOfEvent: [{ coding: [{ system: V3_ACT_REASON, code: purpose }] }] } : {}),
    agent: agents(input),
    source: source(input.tenant),
    ...(input.entity?.length ? { entity: input.entity } : {}),
  } as AuditEvent;
}
