import type { Patient, RelatedPerson } from '@medplum/fhirtypes';
import type { Role } from '../../access/context.ts';
import { restAuditEvent } from '../../audit/audit-event.ts';
import { auditTrailFor } from '../../audit/audit-trail.ts';
import { type AccessPolicy, policyFor } from '../../access/policy.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { Repository, isOperationOutcomeError } from '../../store/repository.ts';
import type { PatientChoice } from '../pages/views.ts';

/**
 * Patients as the patient picker shows them. A practitioner picks among the patients her own
 * access reaches (the access decision point with her roles and care relationships, as her token
 * will have), never the whole clinic; a related person among their own links, read by the server.
 */
export interface Picker {
  tenant: string;
  userId: string;
  fhirUser: string;
  roles: Role[];
  /** The purpose of use the request asks for (access/purpose.ts): the token will carry it too. */
  purposeOfUse?: string;
}

async function practitionerRepository(db: Database, config: Config, who: Picker): Promise<Repository> {
  const access = await policyFor({ tenant: who.tenant, clientId: undefined, scope: 'user/Patient.rs', userId: who.userId, fhirUser: who.fhirUser, roles: who.roles, purposeOfUse: who.purposeOfUse }, db);
  return repository(db, config, who.tenant, access);
}

/** The picker's repository: `access` when given, else the server's own (a related person's links). */
function repository(db: Database, config: Config, tenant: string, access?: AccessPolicy): Repository {
  const settings = { tenant, fhirBase: `${config.baseUrl}/fhir/R4`, lenient: true, defaultCount: 20, maxCount: 50 };
  return access ? new Repository(db, { ...settings, access }) : Repository.forServer(db, { ...settings, reason: 'patient picker' });
}

export function patientChoice(p: Patient): PatientChoice {
  const n = p.name?.find((x) => x.use === 'official') ?? p.name?.[0];
  const name = n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
  return { id: p.id ?? '', name: name || `Patient ${p.id}`, birthDate: p.birthDate };
}

/** What the picker lists: one page, whether more patients match, and a refused search's reason. */
export interface PickerListing {
  patients: PatientChoice[];
  more: boolean;
  problem?: string;
}

const BAD_SEARCH = 'Search by name, or by birth date as YYYY-MM-DD (or YYYY-MM, YYYY).';

/** A birth date as the picker's search box takes it: YYYY, YYYY-MM or YYYY-MM-DD, a real day. */
function isBirthDate(q: string): boolean {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(q);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2] ?? 1), Number(m[3] ?? 1)];
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/**
 * The patients a practitioner may pick, searched on the server through her own access policy:
 * by birth date when the text is a date, else by name (any part, as FHIR `name` matches), a page
 * at a time with `more` telling that a narrower search would show others. Each listing is an
 * AuditEvent like a FHIR search (auditPickerListing).
 */
export async function searchPatients(db: Database, config: Config, who: Picker, query: string | undefined, count = 20): Promise<PickerListing & { query: [string, string][] }> {
  const params: [string, string][] = [];
  const q = query?.trim().slice(0, 100);
  // Digits and dashes are a birth date or nothing (the lenient search would ignore a bad one and list everybody).
  const dateLike = q !== undefined && /^[\d-]+$/.test(q);
  if (q) params.push([dateLike ? 'birthdate' : 'name', q]);
  params.push(['_sort', 'family,given'], ['_count', String(count)]);
  if (dateLike && !isBirthDate(q)) return { patients: [], more: false, problem: BAD_SEARCH, query: params };
  try {
    const bundle = await (await practitionerRepository(db, config, who)).searchParams('Patient', params);
    const patients = (bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Patient' ? [patientChoice(e.resource as Patient)] : []));
    return { patients, more: (bundle.link ?? []).some((l) => l.relation === 'next'), query: params };
  } catch (err) {
    if (!isOperationOutcomeError(err)) throw err;
    return { patients: [], more: false, problem: BAD_SEARCH, query: params };
  }
}

/**
 * The picker's list as an AuditEvent of a Patient search (type rest, subtype search-type), with
 * the person and the app as agents, the query, and every patient shown: what a clinic's privacy
 * officer needs to see who looked whom up. Stored before the page is sent.
 */
export async function auditPickerListing(
  db: Database,
  who: { tenant: string; userId: string; fhirUser: string; roles: Role[]; clientId: string; ip: string | undefined },
  query: [string, string][],
  listing: PickerListing
): Promise<void> {
  const trail = auditTrailFor(db);
  trail.record(
    who.tenant,
    restAuditEvent({
      tenant: who.tenant,
      context: { tenant: who.tenant, clientId: who.clientId, scope: '', userId: who.userId, fhirUser: who.fhirUser, roles: who.roles },
      ip: who.ip,
      interaction: 'search-type',
      status: listing.problem ? 400 : 200,
      query: new URLSearchParams(query).toString(),
      queryDescription: 'Patient search (patient picker)',
      patients: listing.patients.map((p) => p.id),
    })
  );
  await trail.flush();
}

/** A patient by id, as `who` may see it (a practitioner's access), or as the server reads it. */
export async function readPatient(db: Database, config: Config, tenant: string, id: string, who?: Picker): Promise<PatientChoice | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
  try {
    const repo = who ? await practitionerRepository(db, config, who) : repository(db, config, tenant);
    return patientChoice(await repo.readResource<Patient>('Patient', id));
  } catch (err) {
    if (isOperationOutcomeError(err)) return undefined;
    throw err;
  }
}

/** Patients a related person may act for: the `patient` of their RelatedPerson resource (R4 1..1). */
export async function linkedPatients(db: Database, config: Config, tenant: string, fhirUser: string): Promise<PatientChoice[]> {
  const id = fhirUser.replace(/^RelatedPerson\//, '');
  let rp: RelatedPerson;
  try {
    rp = await repository(db, config, tenant).readResource<RelatedPerson>('RelatedPerson', id);
  } catch (err) {
    if (isOperationOutcomeError(err)) return [];
    throw err;
  }
  const ref = rp.patient?.reference;
  const m = ref ? /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref) : null;
  if (!m) return [];
  const p = await readPatient(db, config, tenant, m[1]);
  return p ? [p] : [];
}
