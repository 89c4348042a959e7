import type { BrowserContext, Page } from 'playwright-core';
import { signIn } from './harness.ts';

/**
 * Following an EHR launch from the launcher: the launcher opens the app in a new tab, which goes
 * through launch.html, /auth/authorize (consent when this patient is new for the app) and lands on
 * the app. `launchFrom` clicks Launch, follows the new tab, answers the consent page if asked, and
 * reports whether it was asked and the launch context the app received (fhirclient's state in the
 * tab's sessionStorage, under the app's own session pointer: apps/shared/smart.ts).
 */
export interface LaunchedApp {
  page: Page;
  consentAsked: boolean;
  context: { clientId?: string; patient?: string; encounter?: string; scope?: string };
}

export async function launchFrom(launcher: Page, context: BrowserContext, appId: string): Promise<LaunchedApp> {
  const opened = context.waitForEvent('page', { timeout: 15_000 });
  await launcher.getByRole('button', { name: /^Launch / }).click();
  const page = await opened;
  let consentAsked = false;
  for (let step = 0; step < 10; step++) {
    await page.waitForURL((u) => u.pathname.startsWith('/auth/') || (u.pathname.startsWith(`/apps/${appId}/`) && !u.pathname.endsWith('launch.html')), { timeout: 20_000 });
    const path = new URL(page.url()).pathname;
    if (!path.startsWith('/auth/')) break;
    const kind = await page.locator('main[data-page]').getAttribute('data-page', { timeout: 10_000 });
    if (kind === 'consent') consentAsked = true;
    await signIn(page, 'clinician');
  }
  const state = await page.waitForFunction(
    (id) => {
      const pointer = sessionStorage.getItem(`bh:${id}:SMART_KEY`);
      const raw = pointer ? sessionStorage.getItem(JSON.parse(pointer) as string) : null;
      const s = raw ? (JSON.parse(raw) as { clientId?: string; tokenResponse?: { access_token?: string; patient?: string; encounter?: string; scope?: string } }) : undefined;
      return s?.tokenResponse?.access_token ? { clientId: s.clientId, patient: s.tokenResponse?.patient, encounter: s.tokenResponse?.encounter, scope: s.tokenResponse?.scope } : false;
    },
    appId,
    { timeout: 20_000 }
  );
  return { page, consentAsked, context: (await state.jsonValue()) as LaunchedApp['context'] };
}
