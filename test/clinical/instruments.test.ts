import type { Questionnaire, QuestionnaireItem } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tenantAdminPolicy } from '../../server/src/access/policy.ts';
import { SDC_CALCULATED_EXPRESSION, SDC_OBSERVATION_EXTRACT, questionnaireUrl } from '../../server/src/clinical/codes.ts';
import { InstrumentConflictError, loadInstruments, loadInstrumentsForAllTenants } from '../../server/src/clinical/instruments/index.ts';
import { INSTRUMENTS, scoreResponse } from '../../server/src/clinical/scoring/index.ts';
import { Repository } from '../../server/src/store/repository.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { ORDINAL, responseFor, spread } from './instruments-fixtures.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  await s.ensureTenant('test');
});
afterAll(async () => {
  await s?.close();
});

const NAMES = ['phq-9', 'gad-7', 'phq-2', 'phq-a', 'audit-c', 'pcl-5', 'asq'];

async function stored(name: string, tenant = 'test'): Promise<Questionnaire[]> {
  const token = await s.token('system/*.cruds', tenant);
  const res = await s.fhir(`Questionnaire?url=${encodeURIComponent(questionnaireUrl(name))}&version=1.0.0`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()).entry ?? []).map((e: { resource: Questionnaire }) => e.resource);
}

const item = (q: Questionnaire, linkId: string) => q.item?.find((i) => i.linkId === linkId) as QuestionnaireItem;
const ordinals = (i: QuestionnaireItem) => (i.answerOption ?? []).map((o) => o.extension?.find((e) => e.url === ORDINAL)?.valueDecimal);
const codes = (q: Questionnaire) => (q.item ?? []).map((i) => i.code?.[0]?.code);

describe('each tenant gets the instruments, by canonical url|version', () => {
  test('all seven are in a new tenant, once', async () => {
    for (const name of NAMES) {
      const found = await stored(name);
      expect(found, name).toHaveLength(1);
      expect(found[0].url).toBe(questionnaireUrl(name));
      expect(found[0].status).toBe('active');
    }
  });

  test('loading again is idempotent; a changed definition under the same version is an error', async () => {
    const again = await loadInstruments(s.db, 'test');
    expect(again.created).toEqual([]);
    expect(again.unchanged).toHaveLength(7);
    for (const name of NAMES) expect(await stored(name)).toHaveLength(1);
    // The stored PHQ-9 is edited without a new version (no token may: access/platform.ts; here
    // the server's own repository stands for data changed behind its back): the next start must
    // refuse, not overwrite.
    await s.ensureTenant('edited');
    const [phq9] = await stored('phq-9', 'edited');
    const token = await s.token('system/*.cruds', 'edited');
    expect((await s.fhir(`Questionnaire/${phq9.id}`, { method: 'PUT', token, json: { ...phq9, title: 'Changed' } })).status).toBe(403);
    const server = new Repository(s.db, { tenant: 'edited', access: tenantAdminPolicy('edited'), fhirBase: s.fhirBase, lenient: false, defaultCount: 20, maxCount: 100 });
    await server.updateResource({ ...phq9, title: 'Changed' });
    await expect(loadInstruments(s.db, 'edited')).rejects.toBeInstanceOf(InstrumentConflictError);
    await expect(loadInstrumentsForAllTenants(s.db)).rejects.toThrow(/phq-9\|1\.0\.0.*new version/);
    // Put it back: the start succeeds again and nothing was overwritten or duplicated.
    await server.updateResource({ ...phq9, meta: undefined });
    await loadInstrumentsForAllTenants(s.db);
    expect(await stored('phq-9', 'edited')).toHaveLength(1);
  });
});

describe('the instrument files carry the published codes, scores and notices', () => {
  test('PHQ-9: LOINC panel, items, answers LL358-3 with ordinals 0-3, total, difficulty not scored', async () => {
    const [q] = await stored('phq-9');
    expect(q.code?.[0]).toMatchObject({ system: 'http://loinc.org', code: '44249-1' });
    expect(codes(q)).toEqual(['44250-9', '44255-8', '44259-0', '44254-1', '44251-7', '44258-2', '44252-5', '44253-3', '44260-8', '69722-7', '44261-6']);
    for (const id of INSTRUMENTS['phq-9'].scoredLinkIds) {
      expect(item(q, id).answerOption?.map((o) => o.valueCoding?.code)).toEqual(['LA6568-5', 'LA6569-3', 'LA6570-1', 'LA6571-9']);
      expect(ordinals(item(q, id))).toEqual([0, 1, 2, 3]);
      // The ordinal sits on the option and on its Coding, with the same value.
      expect(item(q, id).answerOption?.map((o) => o.valueCoding?.extension?.[0]?.valueDecimal)).toEqual([0, 1, 2, 3]);
      expect(item(q, id).extension?.find((e) => e.url === SDC_OBSERVATION_EXTRACT)?.valueBoolean).toBe(true);
    }
    expect(item(q, '69722-7').extension).toBeUndefined();
    expect(item(q, '69722-7').answerOption?.map((o) => o.valueCoding?.code)).toEqual(['LA6572-7', 'LA6573-5', 'LA6575-0', 'LA6574-3']);
    const total = item(q, '44261-6');
    expect(total.readOnly).toBe(true);
    expect(total.extension?.find((e) => e.url === SDC_CALCULATED_EXPRESSION)?.valueExpression?.language).toBe('text/fhirpath');
    expect(q.copyright).toMatch(/No permission required to reproduce, translate, display or distribute/);
  });

  test('GAD-7, PHQ-2, PHQ-A, AUDIT-C, PCL-5, ASQ', async () => {
    const [gad7] = await stored('gad-7');
    expect(gad7.code?.[0]?.code).toBe('69737-5');
    expect(codes(gad7)).toEqual(['69725-0', '68509-9', '69733-4', '69734-2', '69735-9', '69689-8', '69736-7', '69722-7', '70274-6']);
    expect(gad7.copyright).toMatch(/No permission required/);
    const [phq2] = await stored('phq-2');
    expect([phq2.code?.[0]?.code, ...codes(phq2)]).toEqual(['55757-9', '44250-9', '44255-8', '55758-7']);
    const [phqa] = await stored('phq-a');
    expect([phqa.code?.[0]?.code, item(phqa, '89204-2').code?.[0]?.code]).toEqual(['89206-7', '89204-2']);
    expect(item(phqa, 'phq-a-1').code?.[0]?.system).toBe('http://bh-fhir.org/fhir/CodeSystem/instrument-item');
    const [audit] = await stored('audit-c');
    expect([audit.code?.[0]?.code, ...codes(audit)]).toEqual(['72109-2', '68518-0', '68519-8', '68520-6', '75626-2']);
    for (const id of ['68518-0', '68519-8', '68520-6']) expect(ordinals(item(audit, id))).toEqual([0, 1, 2, 3, 4]);
    expect(item(audit, '68518-0').answerOption?.map((o) => o.valueCoding?.code)).toEqual(['LA6270-8', 'LA18926-8', 'LA18927-6', 'LA18928-4', 'LA18929-2']);
    const [pcl5] = await stored('pcl-5');
    expect([pcl5.code?.[0]?.code, item(pcl5, '101698-9').code?.[0]?.code]).toEqual(['101697-1', '101698-9']);
    expect(INSTRUMENTS['pcl-5'].scoredLinkIds.map((id) => ordinals(item(pcl5, id)))).toEqual(Array(20).fill([0, 1, 2, 3, 4]));
    expect(pcl5.copyright).toMatch(/public domain/);
    const [asq] = await stored('asq');
    expect(item(asq, 'asq-5').enableBehavior).toBe('any');
    expect(item(asq, 'asq-5').enableWhen?.map((w) => w.question)).toEqual(['asq-1', 'asq-2', 'asq-3', 'asq-4']);
    expect(asq.copyright).toMatch(/public domain/);
    // Nothing that needs a licence.
    for (const name of NAMES) expect(JSON.stringify((await stored(name))[0])).not.toMatch(/C-SSRS|Columbia/);
  });

  test('scoreResponse (exported for other modules) scores like the server', () => {
    const d = INSTRUMENTS['gad-7'];
    const r = scoreResponse(d.questionnaire, responseFor('gad-7', spread(d, 15)));
    expect([r.total, r.band?.code]).toEqual([15, 'severe']);
    expect(r.response.item?.find((i) => i.linkId === '70274-6')?.answer).toEqual([{ valueInteger: 15 }]);
  });
});
