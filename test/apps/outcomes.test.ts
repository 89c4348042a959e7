import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { type InstrumentBands, GAD7_BANDS, PHQ9_BANDS } from '../../apps/outcomes/src/instruments.ts';
import { type AppsHarness, openApp, screenshot, seriousViolations, startAppsHarness } from './harness.ts';
import { launchFrom } from './launcher-support.ts';
import {
  type Parameters,
  type ServerCohort,
  type ServerInstrument,
  measureWords,
  patientId,
  searchAll,
  serverBands,
  serverCohort,
  serverSummary,
  tokenAs,
} from './outcomes-support.ts';

/**
 * The outcomes app in a real browser against a real server seeded with the demo clinic: a
 * clinician launches it standalone (patient picker) and from the EHR (launch patient), a
 * supervisor on a phone. Everything on screen is compared with what the server answers the same
 * person: `$mbc-summary`, the scored Observations' severity bands, `$mbc-cohort`.
 */
let h: AppsHarness;
let clinician: BrowserContext;
let page: Page;
let riveraToken: string;
beforeAll(async () => {
  h = await startAppsHarness();
  clinician = await h.newContext();
  riveraToken = await tokenAs(h, 'clinician');
}, 180_000);
afterAll(async () => h?.close());

const BANDS: Record<string, InstrumentBands> = { 'PHQ-9': PHQ9_BANDS, 'GAD-7': GAD7_BANDS };
const MINUS = '−';
type Part = NonNullable<Parameters['parameter']>[number];
const signed = (n: number) => (n === 0 ? '0' : n > 0 ? `+${n}` : `${MINUS}${Math.abs(n)}`);
const name = (p: { name?: { given?: string[]; family?: string }[] }) => [...(p.name?.[0]?.given ?? []), p.name?.[0]?.family].filter(Boolean).join(' ');

/** The outcome words the app must put on the latest point, from the server's booleans. */
function expectedWords(i: ServerInstrument): string[] {
  const words = [
    i.flags.response && 'Response',
    i.flags.remission && 'Remission',
    i.flags.reliableImprovement && 'Reliable improvement',
    i.flags.reliableDeterioration && 'Reliable deterioration',
  ].filter(Boolean) as string[];
  return words.length ? words : ['Latest'];
}

const centre = async (l: Locator) => {
  const b = await l.boundingBox();
  if (!b) throw new Error('not rendered');
  return { x: b.x + b.width / 2, y: b.y + b.height / 2, top: b.y, bottom: b.y + b.height };
};

/**
 * One instrument's section against the server: the chart's points are the server's scores, each
 * inside the severity band the server wrote on its Observation; the cut-off lines are drawn; the
 * baseline and latest markers sit on the points $mbc-summary names, with its flags; the table
 * holds the same scores, bands and markers; the facts repeat the server's numbers.
 */
async function checkInstrument(p: Page, i: ServerInstrument, bands: Map<string, { code: string; text: string }>): Promise<void> {
  const def = BANDS[i.name];
  const section = p.getByRole('region', { name: `${i.name} (${def.measures})` });
  const chart = section.locator(`[data-chart="${i.name}"]`);
  await chart.locator('circle.bh-score').first().waitFor();

  // Points: the server's scores, in order.
  const dots = chart.locator('circle.bh-score');
  expect(await dots.evaluateAll((els) => els.map((e) => [e.getAttribute('data-date'), Number(e.getAttribute('data-value'))]))).toEqual(
    i.scores.map((s) => [s.date, s.value])
  );

  // Severity bands: one area per band, labelled; every point lies in the band the server gave it.
  const areas = chart.locator('.recharts-reference-area');
  expect(await areas.count()).toBe(def.bands.length);
  for (const b of def.bands) expect(await chart.locator('.recharts-reference-area text', { hasText: new RegExp(`^${b.label}$`) }).count()).toBe(1);
  const areaBoxes = await Promise.all(
    def.bands.map(async (b) => ({ code: b.code, box: await centre(chart.locator('.recharts-reference-area').filter({ hasText: new RegExp(`^${b.label}$`) }).locator('path, rect').first()) }))
  );
  for (const [k, s] of i.scores.entries()) {
    const y = (await centre(dots.nth(k))).y;
    const containing = areaBoxes.filter((a) => y > a.box.top && y < a.box.bottom).map((a) => a.code);
    expect(containing, `${i.name} ${s.value} on ${s.date}`).toEqual([bands.get(s.observation)?.code]);
  }

  // Cut-off lines.
  expect(await chart.locator('.recharts-reference-line text').allTextContents()).toEqual([`Remission: below ${def.remissionBelow}`, `Caseness: ${def.casenessAtLeast} or more`]);

  // Markers where $mbc-summary says, on the very points.
  const baseline = chart.locator('[data-marker="baseline"]');
  expect(await baseline.getAttribute('data-date')).toBe(i.baselineDate);
  expect(await baseline.textContent()).toBe('Baseline');
  const latest = chart.locator('[data-marker="latest"]');
  expect(await latest.getAttribute('data-date')).toBe(i.latestDate);
  expect(await latest.locator('tspan').allTextContents()).toEqual(expectedWords(i));
  for (const [marker, date] of [[baseline, i.baselineDate], [latest, i.latestDate]] as const) {
    const ring = await centre(marker.locator('circle'));
    const dot = await centre(chart.locator(`circle.bh-score[data-date="${date}"]`));
    expect(Math.abs(ring.x - dot.x)).toBeLessThan(1);
    expect(Math.abs(ring.y - dot.y)).toBeLessThan(1);
  }

  // The table alternative: the same scores, the server's band words, the markers.
  const rows = section.locator(`table[data-scores="${i.name}"] tbody tr`);
  const table = await rows.evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = [...tr.querySelectorAll('td')];
      return { date: cells[0].querySelector('time')?.getAttribute('datetime'), value: Number(cells[1].textContent), band: cells[2].textContent, marked: cells[3].textContent };
    })
  );
  const latestWords = expectedWords(i);
  expect(table).toEqual(
    i.scores.map((s) => ({
      date: s.date,
      value: s.value,
      band: bands.get(s.observation)?.text,
      marked: s.date === i.baselineDate ? 'Baseline' : s.date === i.latestDate ? `Latest${latestWords[0] === 'Latest' ? '' : `: ${latestWords.join(', ')}`}` : '',
    }))
  );
  expect(await section.locator('table caption').textContent()).toContain(`${i.name} scores`);

  // The facts in words carry the server's numbers and flags.
  const facts = Object.fromEntries(
    await section.locator('dl dt').evaluateAll((dts) => dts.map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? '']))
  ) as Record<string, string>;
  expect(facts.Baseline).toMatch(new RegExp(`^${i.baseline} on `));
  expect(facts.Latest).toMatch(new RegExp(`^${i.latest} on `));
  expect(facts.Change).toBe(`${signed(i.change as number)} points (${signed(i.percentChange as number)} %)`);
  const yesNo = (b: boolean | undefined) => (b ? 'yes' : 'no');
  expect(facts['Response (50 % or more below baseline)']).toBe(yesNo(i.flags.response));
  expect(facts[`Remission (latest below ${def.remissionBelow})`]).toBe(yesNo(i.flags.remission));
  expect(facts[`Reliable improvement (${def.reliableChange} or more points lower)`]).toBe(yesNo(i.flags.reliableImprovement));
  expect(facts[`Reliable deterioration (${def.reliableChange} or more points higher)`]).toBe(yesNo(i.flags.reliableDeterioration));
  // The chart's text equivalent names the same baseline and latest.
  expect(await chart.getAttribute('role')).toBe('img');
  expect(await chart.getAttribute('aria-label')).toContain(`baseline ${i.baseline}, latest ${i.latest}`);
}

async function checkPatient(p: Page, patient: string, token: string): Promise<ServerInstrument[]> {
  const summary = await serverSummary(h, patient, token);
  const banded = summary.instruments.filter((i) => BANDS[i.name]);
  expect(banded.map((i) => i.name)).toEqual(['PHQ-9', 'GAD-7']);
  expect(banded.every((i) => i.scores.length >= 7)).toBe(true); // a history of 12+ weeks
  const bands = await serverBands(h, banded.flatMap((i) => i.scores.map((s) => s.observation)), token);
  for (const i of banded) await checkInstrument(p, i, bands);
  const words = { recovered: 'Recovered', 'not-recovered': 'Not recovered' } as Record<string, string>;
  if (words[summary.recovery]) expect(await p.getByRole('region', { name: 'Recovery' }).locator('strong').textContent()).toBe(words[summary.recovery]);
  return banded;
}

/**
 * The dashboard's figures against the server's answer for the same filters: the headline, every
 * cell of the instrument table and the overall completion, polled until the screen settles on
 * them (a filter change re-asks the server).
 */
async function checkCohort(p: Page, server: ServerCohort): Promise<void> {
  const figures = p.getByRole('region', { name: 'Figures' });
  const expected: Record<string, unknown> = {
    headline: `${server.patients} patient${server.patients === 1 ? '' : 's'} with a score, ${server.patientsWithTwoOrMore} with two or more.`,
    headers: ['Measure', 'PHQ-9', 'GAD-7'],
    completed: `Scheduled assessments completed (all instruments): ${measureWords(server.scheduledCompleted, 'expected')}.`,
    settled: true,
  };
  const codes = [PHQ9_BANDS.totalCode, GAD7_BANDS.totalCode];
  const cells = (f: (i: Record<string, Part | undefined>) => string) =>
    codes.map((code) => {
      const i = server.instruments.get(code);
      if (!i) throw new Error(`the server reports no ${code}`);
      return f(i);
    });
  expected.rows = {
    'Patients with a score': cells((i) => String(i.patients?.valueInteger)),
    'Patients with two or more scores': cells((i) => String(i.patientsWithTwoOrMore?.valueInteger)),
    'Response (50 % or more below baseline)': cells((i) => measureWords(i.response)),
    'Remission (latest below 5)': cells((i) => measureWords(i.remission)),
    'Reliable improvement': cells((i) => measureWords(i.reliableImprovement)),
    'Median change (points)': cells((i) => (i.medianChange?.valueDecimal === undefined ? 'none' : signed(i.medianChange.valueDecimal))),
    'Scheduled assessments completed': cells((i) => measureWords(i.scheduledCompleted, 'expected')),
  };
  const screen = async () => {
    const texts = await figures.locator('p').allTextContents();
    const table = figures.locator('table[data-cohort-table]');
    return {
      headline: texts[0]?.replace(/^.*: /, ''),
      headers: await table.locator('thead th').allTextContents(),
      completed: texts.at(-1),
      settled: (await figures.getAttribute('style'))?.includes('opacity: 1') ?? false,
      rows: Object.fromEntries(
        await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th')?.textContent ?? '', [...tr.querySelectorAll('td')].map((td) => td.textContent)]))
      ),
    };
  };
  await expect.poll(screen, { timeout: 15_000 }).toEqual(expected);
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('a clinician, standalone', () => {
  it('picks one of their patients and sees PHQ-9 and GAD-7 over the severity bands, with the server’s scores, markers and a table', async () => {
    page = await openApp(h, clinician, 'outcomes', 'clinician');
    await page.getByRole('heading', { level: 1, name: 'Choose a patient' }).waitFor();

    // The picker lists exactly the patients the server lets this clinician search.
    const mine = await searchAll<Patient>(h, 'Patient?_count=100', riveraToken);
    const everyone = await searchAll(h, 'Patient?_count=100', await h.systemToken());
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.length).toBeLessThan(everyone.length);
    const list = page.getByRole('list', { name: 'Patients' });
    await list.getByRole('link').first().waitFor();
    expect((await list.getByRole('link').allTextContents()).sort()).toEqual(mine.map(name).sort());
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'outcomes-picker');

    // By keyboard: search by name, then open the patient.
    await page.getByLabel('Patient name').fill('Martínez');
    await page.getByLabel('Patient name').press('Enter');
    await expect.poll(() => list.getByRole('link').allTextContents()).toEqual(['Sofía Martínez']);
    await list.getByRole('link', { name: 'Sofía Martínez' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Outcomes' }).waitFor();
    await page.getByRole('region', { name: 'Patient' }).getByText('Sofía Martínez').waitFor();

    const martinez = await patientId(h, 'Martínez');
    const shown = await checkPatient(page, martinez, riveraToken);
    expect(shown[0].flags.response).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'outcomes-patient');
  }, 120_000);

  it('shows reliable deterioration where the server finds it', async () => {
    await page.getByRole('link', { name: 'Patients' }).click();
    await page.getByRole('link', { name: "James O'Brien" }).click();
    await page.getByRole('heading', { level: 1, name: 'Outcomes' }).waitFor();
    const obrien = await patientId(h, "O'Brien");
    const [phq] = await checkPatient(page, obrien, riveraToken);
    expect(phq.flags.reliableDeterioration).toBe(true);
    await page.getByRole('region', { name: 'PHQ-9 (depression)' }).getByRole('alert').filter({ hasText: 'Reliable deterioration' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'outcomes-patient-deterioration');
  }, 60_000);

  it('shows the cohort as the server counts it, and the filters change the figures', async () => {
    await page.getByRole('link', { name: 'Cohort' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Cohort outcomes' }).waitFor();
    const all = await serverCohort(h, {}, riveraToken);
    await checkCohort(page, all);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'outcomes-cohort');

    // Program: the server's programs the clinician can see; anxiety narrows the cohort.
    const program = page.getByLabel('Program');
    expect(await program.locator('option').allTextContents()).toEqual(['All programs', 'Anxiety program', 'Depression program']);
    await program.selectOption({ label: 'Anxiety program' });
    const anxiety = await serverCohort(h, { program: 'http://bh-fhir.org/fhir/CodeSystem/program|anxiety' }, riveraToken);
    expect(anxiety.patients).toBeLessThan(all.patients);
    await checkCohort(page, anxiety);

    // Program and payer together; then a period.
    await program.selectOption({ label: 'Depression program' });
    const payer = page.getByLabel('Payer');
    expect(await payer.locator('option').allTextContents()).toEqual(['All payers', 'Lakeside Medicaid', 'Northwind Health Plan']);
    await payer.selectOption({ label: 'Lakeside Medicaid' });
    const lakeside = (await searchAll(h, 'Organization?name=Lakeside', riveraToken))[0];
    const depressionLakeside = await serverCohort(h, { program: 'http://bh-fhir.org/fhir/CodeSystem/program|depression', payer: `Organization/${lakeside.id}` }, riveraToken);
    expect(depressionLakeside.patients).not.toBe(all.patients);
    await checkCohort(page, depressionLakeside);

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await checkCohort(page, all);
    const start = isoDay(Date.now() - 30 * 86_400_000);
    const end = isoDay(Date.now());
    await page.getByLabel('From').fill(start);
    await page.getByLabel('To').fill(end);
    const lastMonth = await serverCohort(h, { start, end }, riveraToken);
    await checkCohort(page, lastMonth);
    expect(await page.getByRole('region', { name: 'Figures' }).locator('p').first().textContent()).toMatch(/^From .* to .*:/);

    // A period the server refuses: its words, next to the field it names; the figures go.
    await page.getByLabel('From').fill(isoDay(Date.now() + 86_400_000 * 2));
    await page.getByText('start must be before end').waitFor();
    expect(await page.getByLabel('From').getAttribute('aria-invalid')).toBe('true');
    const describedBy = (await page.getByLabel('From').getAttribute('aria-describedby')) ?? '';
    expect(await page.locator(describedBy.split(' ').map((id) => `[id="${id}"]`).join(', ')).allTextContents()).toContain('start must be before end');
    expect(await page.getByLabel('From').inputValue()).toBe(isoDay(Date.now() + 86_400_000 * 2));
    await page.getByRole('status').filter({ hasText: 'the server refused the field marked above' }).waitFor();
    expect(await page.getByRole('region', { name: 'Figures' }).count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'outcomes-cohort-refused');
  }, 120_000);
});

describe('a clinician, EHR launch', () => {
  it('from the EHR launcher, opens on the launch patient, with its outcomes and the cohort one click away', async () => {
    const nguyen = await patientId(h, 'Nguyen');
    // The EHR is the launcher app (apps/launcher): her patient, no visit, the outcomes app.
    const ehr = await openApp(h, clinician, 'launcher', 'clinician');
    await ehr.getByRole('heading', { level: 1, name: 'Launch an app' }).waitFor();
    await ehr.getByLabel('Search your patients by name').fill('Nguyen');
    await ehr.getByRole('button', { name: 'Search' }).click();
    await ehr.getByRole('radio', { name: /^Linh Nguyen/ }).check();
    await ehr.getByRole('radiogroup', { name: /Encounter/ }).getByRole('radio', { name: 'No encounter' }).check();
    await ehr.getByRole('radio', { name: 'Outcomes' }).check();
    const launched = await launchFrom(ehr, clinician, 'outcomes');
    expect(launched.context).toMatchObject({ clientId: 'outcomes', patient: nguyen });
    const p = launched.page;

    await p.getByRole('heading', { level: 1, name: 'Outcomes' }).waitFor();
    await p.getByRole('region', { name: 'Patient' }).getByText('Linh Nguyen').waitFor();
    const nav = p.getByRole('navigation', { name: 'Outcomes' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Patient outcomes', 'Cohort']);
    const [phq] = await checkPatient(p, nguyen, riveraToken);
    expect(phq.flags.remission).toBe(true);
    expect(await p.getByRole('region', { name: 'Recovery' }).locator('strong').textContent()).toBe('Recovered');
    expect(await seriousViolations(p)).toEqual([]);
    await screenshot(p, 'outcomes-ehr-patient');
    await nav.getByRole('link', { name: 'Cohort' }).click();
    await p.getByRole('heading', { level: 1, name: 'Cohort outcomes' }).waitFor();
    await checkCohort(p, await serverCohort(h, {}, riveraToken));
    await nav.getByRole('link', { name: 'Patient outcomes' }).click();
    await p.getByRole('region', { name: 'Patient' }).getByText('Linh Nguyen').waitFor();
  }, 120_000);
});

describe('a supervisor, on a phone', () => {
  it('sees every patient of the clinic, a readable chart and table at 360 px, and filters the cohort by practitioner', async () => {
    const phone = await h.newContext({ phone: true });
    const p = await openApp(h, phone, 'outcomes', 'supervisor');
    const token = await tokenAs(h, 'supervisor');
    const list = p.getByRole('list', { name: 'Patients' });
    await list.getByRole('link').first().waitFor();
    const theirs = await searchAll<Patient>(h, 'Patient?_count=100', token);
    expect((await list.getByRole('link').allTextContents()).sort()).toEqual(theirs.map(name).sort());
    expect(await seriousViolations(p)).toEqual([]);
    await screenshot(p, 'outcomes-phone-picker');

    await list.getByRole('link', { name: 'Daniel Weber' }).click();
    await p.getByRole('heading', { level: 1, name: 'Outcomes' }).waitFor();
    await checkPatient(p, await patientId(h, 'Weber'), token);
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    expect(await seriousViolations(p)).toEqual([]);
    await screenshot(p, 'outcomes-phone-patient');

    await p.getByRole('link', { name: 'Cohort' }).click();
    await p.getByRole('heading', { level: 1, name: 'Cohort outcomes' }).waitFor();
    const all = await serverCohort(h, {}, token);
    await checkCohort(p, all);
    const practitioner = p.getByLabel('Practitioner on the care team');
    await expect.poll(() => practitioner.locator('option').allTextContents()).toContain('Dr. Priya Shah');
    await practitioner.selectOption({ label: 'Dr. Priya Shah' });
    const shah = (await searchAll(h, 'Practitioner?family=Shah', token))[0];
    const shahs = await serverCohort(h, { practitioner: `Practitioner/${shah.id}` }, token);
    expect(shahs.patients).toBeLessThan(all.patients);
    await checkCohort(p, shahs);
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    expect(await seriousViolations(p)).toEqual([]);
    await screenshot(p, 'outcomes-phone-cohort');
    await phone.close();
  }, 120_000);
});
