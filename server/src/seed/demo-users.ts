import type { Practitioner, RelatedPerson, Resource } from '@medplum/fhirtypes';
import type { Role } from '../access/context.ts';
import { createUser } from '../auth/users/index.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log.ts';
import { Repository } from '../store/repository.ts';
import { writeHooks } from '../write-hooks.ts';

/**
 * Demo logins for the demo clinic (README "Demo logins"): one person per role, fixed passwords,
 * and one fixed, already-enrolled TOTP secret for the practitioners (`npm run cli -- totp
 * --secret DEMO...` prints the current code). Plus a public demo SMART app. For the demo tenant of
 * a fresh database only: these credentials are public.
 */
export const DEMO_TOTP_SECRET = 'DEMOTOTPSECRETFORTHEDEMOCLINICXX';
export const DEMO_APP = 'demo-app';

interface DemoLogin {
  username: string;
  password: string;
  roles: Role[];
  displayName: string;
}

export const DEMO_LOGINS = {
  clinician: { username: 'ana.rivera', password: 'demo-clinician-pass', roles: ['clinician'], displayName: 'Dr. Ana Rivera' },
  supervisor: { username: 'sam.okoye', password: 'demo-supervisor-pass', roles: ['clinician', 'supervisor'], displayName: 'Dr. Sam Okoye' },
  frontDesk: { username: 'fran.berg', password: 'demo-frontdesk-pass', roles: ['front-desk'], displayName: 'Fran Berg' },
  tenantAdmin: { username: 'tara.admin', password: 'demo-admin-pass', roles: ['tenant-admin'], displayName: 'Tara Holm' },
  patient: { username: 'linh.nguyen', password: 'demo-patient-pass', roles: ['patient'], displayName: 'Linh Nguyen' },
  guardian: { username: 'erik.lindqvist', password: 'demo-guardian-pass', roles: ['related-person'], displayName: 'Erik Lindqvist' },
} satisfies Record<string, DemoLogin>;

export async function seedDemoUsers(db: Database, config: Config, tenant: string): Promise<void> {
  const repo = Repository.forServer(db, {
    reason: 'demo users seed',
    tenant,
    fhirBase: `${config.baseUrl}/fhir/R4`,
    lenient: false,
    defaultCount: config.defaultCount,
    maxCount: config.maxCount,
    hooks: writeHooks,
  });
  const first = async (type: string, family: string): Promise<string | undefined> => {
    const b = await repo.searchParams(type, [['family', family], ['_count', '1']]);
    return (b.entry?.[0]?.resource as Resource | undefined)?.id;
  };
  const practitioner = async (family: string, given: string, text: string): Promise<string> =>
    (await repo.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family, given: [given] }], qualification: [{ code: { text } }] })).id;

  const rivera = (await first('Practitioner', 'Rivera')) ?? (await practitioner('Rivera', 'Ana', 'Licensed Clinical Psychologist'));
  const nguyen = await first('Patient', 'Nguyen');
  const maja = await first('Patient', 'Lindqvist');
  const users: [DemoLogin, string][] = [
    [DEMO_LOGINS.clinician, `Practitioner/${rivera}`],
    [DEMO_LOGINS.supervisor, `Practitioner/${await practitioner('Okoye', 'Sam', 'Clinical Supervisor, LCSW')}`],
    [DEMO_LOGINS.frontDesk, `Practitioner/${await practitioner('Berg', 'Fran', 'Front desk')}`],
    [DEMO_LOGINS.tenantAdmin, `Practitioner/${await practitioner('Holm', 'Tara', 'Clinic administrator')}`],
  ];
  if (nguyen) users.push([DEMO_LOGINS.patient, `Patient/${nguyen}`]);
  if (maja) {
    const guardian = await repo.createResource<RelatedPerson>({
      resourceType: 'RelatedPerson',
      patient: { reference: `Patient/${maja}` },
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'FTH', display: 'father' }] }],
      name: [{ family: 'Lindqvist', given: ['Erik'] }],
    });
    users.push([DEMO_LOGINS.guardian, `RelatedPerson/${guardian.id}`]);
  }
  for (const [u, fhirUser] of users) {
    const practitionerLogin = fhirUser.startsWith('Practitioner/');
    await createUser(db, { tenant, ...u, fhirUser, totpSecret: practitionerLogin ? DEMO_TOTP_SECRET : undefined });
  }

  // A public SMART client (PKCE, no secret) for trying the authorization-code flow by hand
  // (README "Demo logins"): no page is served at its redirect URIs, the code is read from the
  // address bar. No launch URL, so no EHR launcher offers it: the shipped apps below are the
  // ones to click through.
  await db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status, launch_uri)
     VALUES ($1, $2, 'Demo SMART app', 'smart-app', $3, 'none', $4, 'approved', NULL) ON CONFLICT (id) DO NOTHING`,
    [
      tenant,
      DEMO_APP,
      'openid fhirUser profile launch launch/patient launch/encounter offline_access online_access patient/*.rs patient/*.cruds user/*.cruds',
      [`${config.baseUrl}/apps/demo/callback`, `${config.baseUrl}/apps/demo/`],
    ]
  );
  const apps = await seedDemoApps(db, config, tenant);
  log.info('seeded demo logins', { tenant, users: users.map(([u]) => u.username), smartApps: [DEMO_APP, ...apps] });
}

/** The SMART apps served at /apps/<id>/ (apps/apps.json): what the demo clinic registers for each. */
export interface AppEntry {
  id: string;
  name: string;
  description: string;
  standaloneScope: string;
  ehrScope: string;
}

export function shippedApps(): AppEntry[] {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../../../apps/apps.json'), 'utf8')) as AppEntry[];
}

/**
 * Each shipped app as a public SMART client of the demo clinic (PKCE S256, no secret), its
 * client_id the app's folder name, redirect URI its folder, launch URL its launch.html (apps
 * without an EHR scope, like the launcher itself, are standalone only).
 */
async function seedDemoApps(db: Database, config: Config, tenant: string): Promise<string[]> {
  const apps = shippedApps();
  for (const a of apps) {
    const scopes = new Set([...a.standaloneScope.split(' '), ...a.ehrScope.split(' ')].filter(Boolean));
    await db.query(
      `INSERT INTO oauth_client (tenant, id, name, kind, scope, auth_method, redirect_uris, status, launch_uri)
       VALUES ($1, $2, $3, 'smart-app', $4, 'none', $5, 'approved', $6) ON CONFLICT (id) DO NOTHING`,
      [tenant, a.id, a.name, [...scopes].join(' '), [`${config.baseUrl}/apps/${a.id}/`], a.ehrScope ? `${config.baseUrl}/apps/${a.id}/launch.html` : null]
    );
  }
  return apps.map((a) => a.id);
}
