import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateClaimedProfiles } from '../../server/src/clinical/profiles/profile-hook.ts';
import { instruments } from '../../server/src/clinical/scoring/index.ts';
import { validate } from '../../server/src/store/validate.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { responseFor, spread } from './instruments-fixtures.ts';
import { MIN, asqAcute, clinic, patient, phq9, riskTasks, submit } from './risk-support.ts';

/**
 * The server writes its own follow-up resources (scores as Observations, risk Tasks, Flags, crisis
 * and escalation Communications) through a `serverBuilt` repository, without the structural and
 * profile validation that guards client input (store/repository.ts): that validation is here
 * instead. Every version the builders wrote for every shipped instrument, a positive screen, a
 * screen joining the open Task and an escalation must be valid R4 and conform to the platform
 * profiles it claims.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ RISK_POLL_MS: '0' });
}, 60_000);
afterAll(async () => {
  await s?.close();
});

async function everyVersion(tenant: string, type: string): Promise<Resource[]> {
  const token = await s.token('system/*.cruds', tenant);
  const res = await s.fhir(`${type}/_history?_count=1000`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as Bundle).entry?.flatMap((e) => (e.resource ? [e.resource] : [])) ?? [];
}

describe('what the server builds for itself is valid', () => {
  test('scores of every instrument, risk Tasks (raised, joined, escalated), Flags and Communications: valid R4, conformant to their profiles', async () => {
    const c = await clinic(s, 'built');
    const p = await patient(s, c);
    const token = await s.token('system/*.cruds', c.tenant);
    // ASQ needs its acuity item once positive: it comes below, as the screen that joins the Task.
    for (const d of instruments().filter((x) => x.name !== 'asq')) {
      const res = await s.fhir('QuestionnaireResponse', { method: 'POST', token, json: responseFor(d.name, spread(d, Math.floor(d.maxTotal / 2)), { subject: { reference: `Patient/${p}` } }) });
      expect(res.status, `${d.name}: ${await res.clone().text()}`).toBe(201);
    }
    await submit(s, c.tenant, phq9(p, 2));
    await submit(s, c.tenant, asqAcute(p)); // joins the open Task
    s.clock.advance(20 * MIN);
    expect(await s.server.loops.risk.runOnce()).toBeGreaterThan(0); // escalates
    const [task] = await riskTasks(s, c.tenant, p);
    expect(task.input?.length).toBeGreaterThan(2);

    const written: Resource[] = [];
    for (const type of ['Observation', 'Task', 'Flag', 'Communication']) written.push(...(await everyVersion(c.tenant, type)));
    expect(written.filter((r) => r.resourceType === 'Task').length).toBeGreaterThanOrEqual(3);
    expect(written.filter((r) => r.resourceType === 'Communication').length).toBeGreaterThanOrEqual(2);
    expect(written.filter((r) => r.meta?.profile?.length).length).toBeGreaterThan(instruments().length);
    const problems: string[] = [];
    for (const r of written) {
      try {
        validate(r);
        validateClaimedProfiles(r);
      } catch (err) {
        problems.push(`${r.resourceType}/${r.id}/_history/${r.meta?.versionId}: ${JSON.stringify((err as { outcome?: unknown }).outcome ?? String(err))}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
