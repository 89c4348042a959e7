import type { Patient, Practitioner } from '@medplum/fhirtypes';
import { dirname, join, resolve } from 'node:path';
import { registerBackendClient } from '../auth/clients.ts';
import { generateClientKey } from '../cli/backend-key.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { log } from '../log.ts';
import { createTenant } from '../tenant/tenants.ts';
import { Repository } from '../store/repository.ts';
import { writeHooks } from '../write-hooks.ts';
import { seedDemoClinical } from './demo-clinical.ts';
import { seedDemoUsers } from './demo-users.ts';

/**
 * On an empty database, a demo clinic (tenant `demo`) so a new user sees something at once.
 * Seeding happens once: an existing tenant means the database is not empty.
 */
export const DEMO_TENANT = 'demo';
export const DEMO_CLIENT = 'demo-backend';

/**
 * Why the demo clinic may not be seeded here, or undefined. Its logins are published in the
 * README, so a production server must never carry it, even when SEED_DEMO=true says so.
 */
export function demoSeedRefusal(config: Pick<Config, 'production'>): string | undefined {
  if (!config.production) return undefined;
  return 'Refusing to seed the demo clinic where NODE_ENV=production: its passwords, TOTP secret and backend client are public. Unset SEED_DEMO (or set SEED_DEMO=false).';
}

export async function seedDemo(db: Database, config: Config): Promise<void> {
  const refusal = demoSeedRefusal(config);
  if (refusal) throw new Error(refusal);
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant');
  if (rows[0].n > 0) return;
  // Through createTenant, so the demo clinic starts like any tenant: with the platform's
  // profiles and instruments.
  await createTenant(db, { id: DEMO_TENANT, name: 'Demo Clinic' });
  const repo = Repository.forServer(db, {
    reason: 'demo clinic seed',
    tenant: DEMO_TENANT,
    fhirBase: `${config.baseUrl}/fhir/R4`,
    lenient: false,
    defaultCount: config.defaultCount,
    maxCount: config.maxCount,
    hooks: writeHooks,
  });
  await repo.withTransaction(async (tx) => {
    await tx.createResource<Practitioner>({
      resourceType: 'Practitioner',
      name: [{ family: 'Rivera', given: ['Ana'], prefix: ['Dr.'] }],
      qualification: [{ code: { text: 'Licensed Clinical Psychologist' } }],
    });
    const patients: Patient[] = [
      { resourceType: 'Patient', name: [{ family: 'Nguyen', given: ['Linh'] }], gender: 'female', birthDate: '1991-04-12' },
      { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Chidi'] }], gender: 'male', birthDate: '1984-09-30' },
      { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Maja'] }], gender: 'female', birthDate: '2007-01-22' },
    ];
    for (const p of patients) {
      await tx.createResource<Patient>({ ...p, identifier: [{ system: 'urn:demo-clinic:mrn', value: `MRN-${p.birthDate?.slice(0, 4)}` }] });
    }
  }, { resourceTypes: ['Patient', 'Practitioner'] });
  // A demo backend client whose private key sits in the data directory, so the API can be tried
  // with curl at once (README "Calling the API"). Only for the demo clinic of a fresh database.
  // Beside the data directory, not inside it: PGlite's directory belongs to PostgreSQL.
  const keyPath = join(config.dataDir === 'memory' ? '.' : dirname(resolve(config.dataDir)), 'demo-backend.private.jwk');
  const { publicJwks } = await generateClientKey(keyPath);
  await registerBackendClient(db, { tenant: DEMO_TENANT, name: 'Demo backend', id: DEMO_CLIENT, jwks: publicJwks, scope: 'system/*.cruds' });
  await seedDemoUsers(db, config, DEMO_TENANT);
  await seedDemoClinical(db, config, DEMO_TENANT);
  log.info('seeded demo clinic', {
    tenant: DEMO_TENANT,
    backendClient: DEMO_CLIENT,
    privateKey: keyPath,
    getToken: `npm run cli -- token --client ${DEMO_CLIENT} --key ${keyPath} --url ${config.baseUrl} --scope "system/*.read"`,
  });
}
