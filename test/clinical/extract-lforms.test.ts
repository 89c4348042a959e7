import type { Coding, Observation, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.ts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SDC_CALCULATED_EXPRESSION } from '../../server/src/clinical/codes.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { perCodeQuestionnaire, sampleQuestionnaire } from './extract-fixtures.ts';
import { codingFor, createPatient, def, responseFor, spread } from './instruments-fixtures.ts';

/**
 * Our $extract against an independent implementation of SDC observation-based extraction on the
 * same inputs: LHC-Forms (npm lforms, NLM), `LForms.Util.getFormFHIRData('QuestionnaireResponse',
 * 'R4', form, { extract: true })`, run in headless Chromium from the package's browser build.
 *
 * Compared: which items become Observations, code, value, category, status, subject.
 * Where LHC-Forms departs from the SDC rules or from R4 (asserted below so a change is noticed):
 * - it rebuilds the response from its form state, so encounter, basedOn, partOf and author are not
 *   carried and `authored` (hence effectiveDateTime) is the time of extraction;
 * - it adds `issued` (= authored), `code.text`, `valueCodeableConcept.text` and a
 *   meta.tag "lformsVersion: …" (none in the SDC mapping);
 * - derivedFrom points at a made-up QuestionnaireResponse id rather than the response's own;
 * - it extracts an item that has no code, as an Observation without Observation.code (1..1 in R4;
 *   SDC extracts coded items only);
 * - integer and decimal answers merged from a response come out as JSON strings ("800");
 * - it did not populate the calculatedExpression totals when the form is loaded from a response
 *   (no total Observation), so totals are checked against LHC-Forms' own FHIRPath engine
 *   evaluating the same expression on the same response.
 */
const LFORMS = join(import.meta.dirname, '../../node_modules/lforms/dist/lforms');
const PAGE = `<!doctype html><html><head><meta charset="utf-8"></head><body><div id="form"></div>
<script src="/lforms/webcomponent/assets/lib/zone.min.js"></script>
<script src="/lforms/webcomponent/runtime.js"></script>
<script src="/lforms/webcomponent/polyfills.js"></script>
<script src="/lforms/webcomponent/main.js"></script>
<script src="/lforms/fhir/R4/lformsFHIR.min.js"></script>
</body></html>`;

let s: TestServer;
let files: http.Server;
let browser: Browser;
let page: Page;
let patient: string;

beforeAll(async () => {
  s = await startTestServer();
  patient = await createPatient(s, 'female');
  for (const q of [sampleQuestionnaire, perCodeQuestionnaire]) expect((await s.fhir('Questionnaire', { method: 'POST', json: q })).status).toBe(201);
  // A small static server for the package's browser build (file:// would block the scripts).
  files = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE);
      return;
    }
    const rel = normalize(path.replace(/^\/lforms\//, '')).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = await readFile(join(LFORMS, rel));
      res.setHeader('content-type', extname(rel) === '.js' ? 'text/javascript; charset=utf-8' : extname(rel) === '.css' ? 'text/css' : 'application/octet-stream');
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(files.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => Boolean((window as unknown as { LForms?: { FHIR?: unknown } }).LForms?.FHIR), null, { timeout: 60_000 });
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
  await s?.close();
});

interface LFormsResult {
  observations: Observation[];
  /** LHC-Forms' FHIRPath engine on each calculatedExpression, by linkId. */
  calculated: Record<string, unknown>;
}

/** Runs LHC-Forms extraction in the page on the given Questionnaire and response. */
async function lforms(q: Questionnaire, qr: QuestionnaireResponse): Promise<LFormsResult> {
  return page.evaluate(
    async ({ q, qr, patient, calcUrl }: { q: { item?: unknown[] }; qr: unknown; patient: string; calcUrl: string }) => {
      // biome-ignore lint: the page's global
      const LForms = (window as any).LForms;
      const el = document.getElementById('form') as HTMLElement;
      el.innerHTML = '';
      const lf = LForms.Util.convertFHIRQuestionnaireToLForms(q, 'R4');
      const merged = LForms.Util.mergeFHIRDataIntoLForms('QuestionnaireResponse', qr, lf, 'R4');
      await LForms.Util.addFormToPage(merged, 'form');
      await new Promise((r) => setTimeout(r, 100));
      const out = LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', el, { extract: true, subject: { resourceType: 'Patient', id: patient } });
      const calculated: Record<string, unknown> = {};
      const walk = (items: { linkId: string; extension?: { url: string; valueExpression?: { expression: string } }[]; item?: unknown[] }[]) => {
        for (const i of items ?? []) {
          const e = i.extension?.find((x) => x.url === calcUrl);
          if (e?.valueExpression) calculated[i.linkId] = LForms.FHIR.R4.fhirpath.evaluate(qr, e.valueExpression.expression, { resource: qr, questionnaire: q }, LForms.FHIR.R4.fhirpathModel)[0];
          walk((i.item ?? []) as typeof items);
        }
      };
      walk(q.item as never);
      const bundle = out[1];
      return { observations: (bundle?.entry ?? []).map((e: { resource: unknown }) => e.resource), calculated };
    },
    { q: q as { item?: unknown[] }, qr: qr as unknown, patient, calcUrl: SDC_CALCULATED_EXPRESSION }
  ) as Promise<LFormsResult>;
}

async function ours(qr: QuestionnaireResponse): Promise<Observation[]> {
  const res = await s.fhir('QuestionnaireResponse/$extract', { method: 'POST', json: qr });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return (body.entry ?? []).map((e: { resource: Observation }) => e.resource);
}

/** The parts both implementations must agree on, keyed and sorted for comparison. */
function comparable(o: Observation) {
  const codes = (o.code.coding ?? []).map((c: Coding) => `${c.system}|${c.code}`).sort();
  // LHC-Forms writes numbers merged from a response as strings ("800"): compared as numbers.
  const num = (v: unknown) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v);
  const value = o.valueCodeableConcept
    ? { concept: (o.valueCodeableConcept.coding ?? []).map((c) => `${c.system}|${c.code}`) }
    : o.valueQuantity
      ? { quantity: { value: num(o.valueQuantity.value), unit: o.valueQuantity.unit, system: o.valueQuantity.system, code: o.valueQuantity.code } }
      : o.valueInteger !== undefined
        ? { integer: num(o.valueInteger) }
        : o.valueBoolean !== undefined
          ? { boolean: o.valueBoolean }
          : { string: o.valueString };
  return {
    codes,
    value,
    status: o.status,
    subject: o.subject?.reference,
    category: (o.category ?? []).flatMap((c) => (c.coding ?? []).map((x) => `${x.system}|${x.code}`)),
  };
}
const sorted = (list: Observation[]) => list.map(comparable).sort((a, b) => a.codes.join().localeCompare(b.codes.join()));

/**
 * Compares item Observations. Returns ours (for total checks) and LHC-Forms' departures: the
 * Observations it made for items without a code (Observation.code is 1..1 in R4; SDC extracts only
 * items with a code) and how many numbers it wrote as strings.
 */
async function compare(q: Questionnaire, qr: QuestionnaireResponse, totalLinkId?: string) {
  const mine = await ours(qr);
  const theirs = await lforms(q, qr);
  const totalCode = totalLinkId ? q.item?.find((i) => i.linkId === totalLinkId)?.code?.[0]?.code : undefined;
  const myItems = mine.filter((o) => !o.code.coding?.some((c) => c.code === totalCode));
  const codeless = theirs.observations.filter((o) => !o.code.coding?.length);
  const numbersAsStrings = theirs.observations.filter((o) => typeof o.valueInteger === 'string' || typeof o.valueQuantity?.value === 'string').length;
  expect(sorted(myItems)).toEqual(sorted(theirs.observations.filter((o) => o.code.coding?.length)));
  // Departures of LHC-Forms, asserted so that a change in either implementation is noticed.
  for (const o of theirs.observations) {
    expect(o.issued).toBeDefined();
    expect(o.meta?.tag?.[0]?.code).toMatch(/^lformsVersion/);
  }
  for (const o of mine) expect(o.issued).toBeUndefined();
  if (totalLinkId) {
    const [total] = mine.filter((o) => o.code.coding?.some((c) => c.code === totalCode));
    expect(total.valueQuantity?.value).toBe(theirs.calculated[totalLinkId]);
    expect(theirs.observations.some((o) => o.code.coding?.some((c) => c.code === totalCode))).toBe(false);
  }
  return { mine, codeless, numbersAsStrings };
}

const subject = () => ({ reference: `Patient/${patient}` });

describe('our $extract agrees with LHC-Forms on the same inputs', () => {
  for (const [name, totals] of [
    ['phq-9', [0, 9, 14, 27]],
    ['gad-7', [0, 10, 21]],
    ['phq-2', [3]],
    ['phq-a', [5, 20]],
    ['audit-c', [0, 4, 12]],
    ['pcl-5', [0, 31, 80]],
  ] as [string, number[]][]) {
    test(`${name} at totals ${totals.join(', ')}`, async () => {
      const d = def(name);
      for (const t of totals) {
        const qr = responseFor(name, spread(d, t), { subject: subject() });
        const { mine, codeless } = await compare(d.questionnaire, qr, d.totalLinkId);
        expect(codeless).toEqual([]);
        expect(mine.find((o) => o.code.coding?.[0]?.code === d.totalCode.code)?.valueQuantity?.value).toBe(t);
      }
    });
  }

  test('ASQ with question 5 enabled (enableWhen)', async () => {
    const d = def('asq');
    const answer = (id: string, v: number) => ({ linkId: id, answer: [{ valueCoding: codingFor(d, id, v) }] });
    const qr: QuestionnaireResponse = {
      ...responseFor('asq', [0, 1, 0, 0], { subject: subject() }),
      item: [answer('asq-1', 0), answer('asq-2', 1), answer('asq-3', 0), answer('asq-4', 0), answer('asq-5', 0)],
    };
    await compare(d.questionnaire, qr, d.totalLinkId);
  });

  test('the SDC rule sample: root flag, false override, no code, group, category override, unit, skipped item', async () => {
    const qr: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: `${sampleQuestionnaire.url}|1`,
      status: 'completed',
      subject: subject(),
      item: [
        { linkId: 'weight', answer: [{ valueDecimal: 72.5 }] },
        { linkId: 'smoker', answer: [{ valueBoolean: true }] },
        { linkId: 'mood', answer: [{ valueCoding: { system: 'http://example.org/mood', code: 'good', display: 'Good' } }] },
        { linkId: 'note', answer: [{ valueString: 'x' }] },
        { linkId: 'nocode', answer: [{ valueInteger: 1 }] },
        { linkId: 'grp', item: [{ linkId: 'steps', answer: [{ valueInteger: 800 }] }] },
      ],
    };
    const { mine, codeless, numbersAsStrings } = await compare(sampleQuestionnaire, qr);
    expect(mine).toHaveLength(4);
    // LHC-Forms departures: the item without a code became an Observation with no code, and the
    // integer and decimal answers came out as strings.
    expect(codeless.map((o) => o.code.text)).toEqual(['No code, nothing to extract']);
    expect(numbersAsStrings).toBe(3);
  });

  test('a flag on one item.code', async () => {
    const qr: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: `${perCodeQuestionnaire.url}|1`,
      status: 'completed',
      subject: subject(),
      item: [{ linkId: 'a', answer: [{ valueInteger: 2 }] }, { linkId: 'b', answer: [{ valueInteger: 3 }] }],
    };
    const { mine, numbersAsStrings } = await compare(perCodeQuestionnaire, qr);
    expect(mine).toHaveLength(1);
    expect(mine[0].code.coding).toEqual([{ system: 'http://example.org/q', code: 'a-2' }]);
    expect(numbersAsStrings).toBe(1);
  });
});
