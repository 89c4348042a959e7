import type { Patient, RelatedPerson } from '@medplum/fhirtypes';
import { tenantAdminPolicy } from '../../access/policy.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { Repository, isOperationOutcomeError } from '../../store/repository.ts';
import type { PatientChoice } from '../pages/views.ts';

/**
 * The tenant's patients as the patient picker shows them (the EHR launcher app searches with the
 * practitioner's own token instead: auth/launch). Reads the FHIR store as the
 * server itself (tenant admin policy): the person choosing is an authenticated practitioner of
 * that tenant, or a related person limited to their own links below.
 */
function repository(db: Database, config: Config, tenant: string): Repository {
  return new Repository(db, {
    tenant,
    access: tenantAdminPolicy(tenant),
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

export async function searchPatients(db: Database, config: Config, tenant: string, query: string | undefined, count = 20): Promise<PatientChoice[]> {
  const params: [string, string][] = [['_count', String(count)]];
  const q = query?.trim();
  if (q) params.push(['name', q.slice(0, 100)]);
  const bundle = await repository(db, config, tenant).searchParams('Patient', params);
  return (bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Patient' ? [patientChoice(e.resource as Patient)] : []));
}

export async function readPatient(db: Database, config: Config, tenant: string, id: string): Promise<PatientChoice | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
  try {
    return patientChoice(await repository(db, config, tenant).readResource<Patient>('Patient', id));
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
