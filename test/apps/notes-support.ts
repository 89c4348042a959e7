import type { Bundle, Encounter, Patient, Resource } from '@medplum/fhirtypes';
import type { BrowserContext, Page } from 'playwright-core';
import { createLaunchContext } from '../../server/src/auth/launch/index.ts';
import { findUserByUsername } from '../../server/src/auth/users/index.ts';
import { DEMO_LOGINS } from '../../server/src/seed/demo-users.ts';
import { type AppsHarness, type DemoLogin, signIn } from './harness.ts';

/**
 * A search with a system token of the demo clinic: the resources of the answer. Labelled records
 * (psychotherapy notes) need a scope naming their type (access/README.md), e.g. `system/DocumentReference.rs`.
 */
export async function search<T extends Resource>(h: AppsHarness, query: string, scope?: string): Promise<T[]> {
  const res = await h.server.fhir(query, { token: scope ? await h.server.token(scope, h.tenant) : await h.systemToken() });
  if (!res.ok) throw new Error(`${query}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as Bundle).entry?.map((e) => e.resource as T) ?? [];
}

/** A demo patient by family name and their latest visit. */
export async function demoVisit(h: AppsHarness, family: string): Promise<{ patient: Patient; encounter: Encounter }> {
  const [patient] = await search<Patient>(h, `Patient?family=${encodeURIComponent(family)}`);
  const [encounter] = await search<Encounter>(h, `Encounter?patient=Patient/${patient.id}&_sort=-date&_count=1`);
  return { patient, encounter };
}

/**
 * SMART EHR launch of the notes app for a patient and encounter, the test playing the EHR: it
 * creates the launch context exactly as the EHR launch API does (auth/launch/index.ts) for the
 * signed-in practitioner and opens the app's launch.html with `iss` and `launch`. The browser then
 * goes through the real authorize, login, TOTP and consent pages.
 */
export async function ehrLaunchNotes(h: AppsHarness, context: BrowserContext, who: DemoLogin, visit: { patient: Patient; encounter: Encounter }): Promise<Page> {
  const user = await findUserByUsername(h.server.db, h.tenant, DEMO_LOGINS[who].username);
  const launch = await createLaunchContext(h.server.db, { tenant: h.tenant, patient: visit.patient.id, encounter: visit.encounter.id, createdBy: user!.id });
  const page = await context.newPage();
  await page.goto(`${h.baseUrl}/apps/notes/launch.html?iss=${encodeURIComponent(`${h.baseUrl}/fhir/R4`)}&launch=${encodeURIComponent(launch)}`);
  await page.waitForURL((u) => u.pathname.startsWith('/auth/'), { timeout: 15_000 });
  await signIn(page, who);
  await page.waitForURL((u) => u.pathname.startsWith('/apps/notes/'), { timeout: 15_000 });
  return page;
}
