import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AppsHarness, openApp, screenshot, seriousViolations, startAppsHarness } from './harness.ts';

let h: AppsHarness;
beforeAll(async () => {
  h = await startAppsHarness();
}, 180_000);
afterAll(async () => h?.close());

it('a clinician opens the worklist standalone and is signed in', async () => {
  const context = await h.newContext();
  const page = await openApp(h, context, 'worklist', 'clinician');
  await page.getByRole('heading', { level: 1, name: 'Worklist' }).waitFor();
  await screenshot(page, 'worklist-smoke');
  expect(await seriousViolations(page)).toEqual([]);
  await context.close();
});
