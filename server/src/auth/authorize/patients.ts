import type { Patient, RelatedPerson } from '@medplum/fhirtypes';
import type { Role } from '../../access/context.ts';
import { type AccessPolicy, policyFor, tenantAdminPolicy } from '../../access/policy.ts';
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

function repository(db: Database, config: Config, tenant: string, access: AccessPolicy = tenantAdminPolicy(tenant)): Repository {
  return new Repository(db, {
    tenant,
    access,
    fhirBase: `${config.baseUrl}/fhir/R4`,
    lenient: true,
    defaultCount: 20,
    maxCount: 50,
  });
}

export function patientChoice(p: Patient): PatientChoice {
  const n = p.name?.find((x) => x.use === 'official') ?? p.name?.[0];
  const name = n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
  return { id: p.id ?? '', name: name || `Patient ${p.id}`, birthDate: p.birthDate };
}

export async function searchPatients(db: Database, config: Config, who: Picker, query: string | undefined, count = 20): Promise<PatientChoice[]> {
  const params: [string, string][] = [['_count', String(count)]];
  const q = query?.trim();
  if (q) params.push(['name', q.slice(0, 100)]);
  const bundle = await (await practitionerRepository(db, config, who)).searchParams('Patient', params);
  return (bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Patient' ? [patientChoice(e.resource as Patient)] : []));
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
