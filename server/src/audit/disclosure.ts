import type { AuditEvent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import { addPatientsOf } from './patients.ts';

/**
 * What a disclosure disclosed (access/accounting.ts says which accesses are disclosures): one
 * AuditEvent entity per resource returned, `what` = Type/id/_history/v as it left, with the
 * patients whose data it carries as `detail` (type `patient`, valueString the Patient id), so the
 * accounting of one patient (`Patient/[id]/$disclosures`) lists that patient's resources and never
 * another's from the same search page. HIPAA 45 CFR 164.528(b)(2)(iii) asks for "a brief
 * description of the protected health information disclosed": the resources are that description.
 *
 * At most DISCLOSED_ENTITY_CAP resources are named per AuditEvent (each is an index row of the
 * event, and a search page holds at most 1000 matches plus its includes); past the cap one entity
 * counts the rest ("N more resources disclosed, not listed"), and the event still names every
 * patient (entity role 1 Patient), so no patient's disclosure goes unaccounted.
 */
export const DISCLOSED_ENTITY_CAP = 1000;

/**
 * object-role 23 "Routing Criteria" (http://terminology.hl7.org/CodeSystem/object-role): the
 * Subscription a disclosed notification went out on (./notification-disclosure.ts).
 */
export const ROUTING_CRITERIA_ROLE = '23';

/**
 * object-role 20 "Job": the Bulk Data $export job a downloaded file came from
 * (fhir/bulk-export.ts), identified by EXPORT_JOB_SYSTEM|job id.
 */
export const JOB_ROLE = '20';
export const EXPORT_JOB_SYSTEM = 'http://bh-fhir.org/fhir/sid/bulk-export-job';

/** detail.type of a disclosed resource's patient. */
export const DISCLOSED_PATIENT_DETAIL = 'patient';

export interface DisclosedResource {
  /** Type/id/_history/v (or Type/id for a resource without a version). */
  reference: string;
  /** Ids of the patients whose data the resource carries. */
  patients: string[];
}

/**
 * What one $export file carries, tallied while the job writes it (bulk/file-disclosure.ts) and
 * recorded each time an external requester downloads it: the resources up to the cap, how many
 * more, and every patient whose data it holds.
 */
export interface DisclosedFile {
  resources: DisclosedResource[];
  more: number;
  patients: string[];
}

/** Every resource `answer` carries, Bundles opened (a batch answer's searches too), at most `cap`. */
export function disclosedResources(answer: Resource | undefined, cap = DISCLOSED_ENTITY_CAP): { resources: DisclosedResource[]; more: number } {
  const resources: DisclosedResource[] = [];
  const seen = new Set<string>();
  let more = 0;
  const visit = (r: Resource | undefined): void => {
    if (!r) return;
    if (r.resourceType === 'Bundle') {
      for (const e of r.entry ?? []) {
        if (e.search?.mode !== 'outcome') visit(e.resource);
      }
      return;
    }
    // An OperationOutcome is the server's own message; AuditEvents are the log, not the record.
    if (r.resourceType === 'OperationOutcome' || r.resourceType === 'AuditEvent' || !r.id) return;
    const version = r.meta?.versionId;
    const reference = `${r.resourceType}/${r.id}${version ? `/_history/${version}` : ''}`;
    if (seen.has(reference)) return;
    seen.add(reference);
    if (resources.length >= cap) {
      more++;
      return;
    }
    const patients = new Set<string>();
    addPatientsOf(r, patients);
    resources.push({ reference, patients: [...patients] });
  };
  visit(answer);
  return { resources, more };
}

/** The `detail` entries naming a disclosed resource's patients. */
export function patientDetails(patients: readonly string[]): NonNullable<AuditEventEntity['detail']> {
  return patients.map((p) => ({ type: DISCLOSED_PATIENT_DETAIL, valueString: p }));
}

/**
 * One disclosure as the accounting shows it to `patientId` (or a privacy officer asking for that
 * patient): the stored AuditEvent with only this patient's entities (their Patient entity and the
 * resources carrying their data; the count of resources not named, if any; the Subscription of a
 * notification; the $export job of a downloaded file), without the query
 * (it may name other patients) and without internal details of the recipient (network address,
 * internal user id). When, who received it (organization, client, person), for what purpose, and
 * the outcome stay as recorded.
 */
export function disclosureView(event: AuditEvent, patientId: string): AuditEvent {
  const patientRef = `Patient/${patientId}`;
  const entity: AuditEventEntity[] = [];
  for (const en of event.entity ?? []) {
    if (en.query !== undefined) continue;
    const ref = en.what?.reference;
    if (ref === patientRef || ref?.startsWith(`${patientRef}/_history/`)) {
      entity.push({ ...en, detail: undefined });
      continue;
    }
    const mine = en.detail?.some((d) => d.type === DISCLOSED_PATIENT_DETAIL && d.valueString === patientId);
    if (mine) entity.push({ ...en, detail: patientDetails([patientId]) });
    else if (en.role?.code === ROUTING_CRITERIA_ROLE) entity.push(en); // the Subscription a notification went out on: names no patient
    else if (en.role?.code === JOB_ROLE) entity.push(en); // the $export job a downloaded file came from: names no patient
    else if (!en.what && en.description) entity.push(en); // "N more resources disclosed, not listed"
  }
  const agent = (event.agent ?? []).map(({ network: _network, altId: _altId, ...a }) => a);
  const { meta: _meta, ...rest } = event;
  return { ...rest, agent, entity: entity.map((e) => (e.detail ? e : dropUndefined(e))) };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
