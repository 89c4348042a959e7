import type { Bundle, Parameters, Resource } from '@medplum/fhirtypes';
import { DEMO_LOGINS, shippedApps } from '../../server/src/seed/demo-users.ts';
import { findUserByUsername } from '../../server/src/auth/users/index.ts';
import type { AppsHarness, DemoLogin } from './harness.ts';

/**
 * Helpers for the outcomes app's browser tests: the server's own answers for a demo person (to
 * compare the screen with), read independently of the app's code.
 */

/** The demo person's user row and FHIR identity. */
export async function demoPerson(h: AppsHarness, who: DemoLogin): Promise<{ userId: string; fhirUser: string }> {
  const u = await findUserByUsername(h.server.db, h.tenant, DEMO_LOGINS[who].username);
  if (!u?.fhirUser) throw new Error(`no demo user ${who}`);
  return { userId: u.id, fhirUser: u.fhirUser };
}

/**
 * An access token with exactly what the outcomes app holds when `who` signs in (its scopes, their
 * roles and fhirUser): the server's answers to it are the figures the app must show.
 */
export async function tokenAs(h: AppsHarness, who: DemoLogin, appId = 'outcomes'): Promise<string> {
  const { userId, fhirUser } = await demoPerson(h, who);
  const app = shippedApps().find((a) => a.id === appId);
  if (!app) throw new Error(`no app ${appId}`);
  const scope = app.standaloneScope.split(' ').filter((s) => s.startsWith('user/') || s.startsWith('patient/')).join(' ');
  return h.server.personToken({ tenant: h.tenant, scope, fhirUser, userId, roles: [...DEMO_LOGINS[who].roles], clientId: appId });
}

export async function fhirJson<T = Resource>(h: AppsHarness, path: string, token: string): Promise<T> {
  const res = await h.server.fhir(path, { token });
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export async function searchAll<T extends Resource>(h: AppsHarness, path: string, token: string): Promise<T[]> {
  const b = await fhirJson<Bundle>(h, path, token);
  return (b.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as T);
}

/** The demo Patient whose family name is `family` (system token). */
export async function patientId(h: AppsHarness, family: string): Promise<string> {
  const [p] = await searchAll(h, `Patient?family=${encodeURIComponent(family)}`, await h.systemToken());
  if (!p?.id) throw new Error(`no demo patient ${family}`);
  return p.id;
}

export type { Parameters };

/** One instrument of the server's `$mbc-summary`, read independently of the app's own reader. */
export interface ServerInstrument {
  name: string;
  code: string;
  baseline: number;
  baselineDate: string;
  latest: number;
  latestDate: string;
  change?: number;
  percentChange?: number;
  flags: Record<'response' | 'remission' | 'reliableImprovement' | 'reliableDeterioration', boolean | undefined>;
  scores: { date: string; value: number; observation: string }[];
}

type Part = NonNullable<Parameters['parameter']>[number];
const get = (parts: Part[] | undefined, name: string) => parts?.find((p) => p.name === name);

export async function serverSummary(h: AppsHarness, patient: string, token: string): Promise<{ instruments: ServerInstrument[]; recovery: string }> {
  const p = await fhirJson<Parameters>(h, `Patient/${patient}/$mbc-summary`, token);
  const instruments = (p.parameter ?? [])
    .filter((x) => x.name === 'instrument')
    .map((i): ServerInstrument => {
      const n = (name: string) => get(i.part, name)?.valueDecimal ?? get(i.part, name)?.valueInteger;
      return {
        name: get(i.part, 'name')?.valueString ?? '',
        code: get(i.part, 'code')?.valueCoding?.code ?? '',
        baseline: n('baseline') as number,
        baselineDate: get(i.part, 'baselineDate')?.valueDateTime as string,
        latest: n('latest') as number,
        latestDate: get(i.part, 'latestDate')?.valueDateTime as string,
        change: n('change'),
        percentChange: n('percentChange'),
        flags: {
          response: get(i.part, 'response')?.valueBoolean,
          remission: get(i.part, 'remission')?.valueBoolean,
          reliableImprovement: get(i.part, 'reliableImprovement')?.valueBoolean,
          reliableDeterioration: get(i.part, 'reliableDeterioration')?.valueBoolean,
        },
        scores: (i.part ?? [])
          .filter((s) => s.name === 'score')
          .map((s) => ({
            date: get(s.part, 'date')?.valueDateTime as string,
            value: get(s.part, 'value')?.valueDecimal as number,
            observation: get(s.part, 'observation')?.valueReference?.reference as string,
          })),
      };
    });
  const recovery = get(p.parameter?.find((x) => x.name === 'recovery')?.part, 'status')?.valueCode ?? '';
  return { instruments, recovery };
}

/** The severity band the server wrote on each scored Observation: `Observation/<id>` → code and words. */
export async function serverBands(h: AppsHarness, observations: string[], token: string): Promise<Map<string, { code: string; text: string }>> {
  const ids = observations.map((o) => o.replace('Observation/', ''));
  const found = await searchAll<import('@medplum/fhirtypes').Observation>(h, `Observation?_id=${ids.join(',')}&_count=${ids.length}`, token);
  return new Map(
    found.map((o) => [
      `Observation/${o.id}`,
      { code: o.interpretation?.[0]?.coding?.[0]?.code ?? '', text: o.interpretation?.[0]?.text ?? o.interpretation?.[0]?.coding?.[0]?.display ?? '' },
    ])
  );
}

/** The server's `$mbc-cohort` answer for `query` (as the app sends it), keyed for comparison. */
export interface ServerCohort {
  patients: number;
  patientsWithTwoOrMore: number;
  instruments: Map<string, Record<string, Part | undefined>>;
  scheduledCompleted?: Part;
}

export async function serverCohort(h: AppsHarness, query: Record<string, string>, token: string): Promise<ServerCohort> {
  const p = await fhirJson<Parameters>(h, `$mbc-cohort?${new URLSearchParams(query)}`, token);
  const top = (name: string) => p.parameter?.find((x) => x.name === name);
  const instruments = new Map<string, Record<string, Part | undefined>>();
  for (const i of (p.parameter ?? []).filter((x) => x.name === 'instrument')) {
    const code = get(i.part, 'code')?.valueCoding?.code ?? '';
    instruments.set(code, Object.fromEntries((i.part ?? []).map((x) => [x.name, x])));
  }
  return {
    patients: top('patients')?.valueInteger ?? -1,
    patientsWithTwoOrMore: top('patientsWithTwoOrMore')?.valueInteger ?? -1,
    instruments,
    scheduledCompleted: top('scheduledCompleted'),
  };
}

/** "3 of 5 (60 %)" for a measure part, the words the dashboard uses for the server's count, denominator and rate. */
export function measureWords(m: Part | undefined, of = ''): string {
  const n = (name: string) => get(m?.part, name);
  const count = n('count')?.valueInteger;
  const denominator = n('denominator')?.valueInteger ?? 0;
  if (!denominator) return `none ${of || 'to count'}`;
  const rate = n('rate')?.valueDecimal;
  return `${count} of ${denominator}${of ? ` ${of}` : ''}${rate !== undefined ? ` (${(rate * 100).toFixed(1).replace(/\.0$/, '')}\u00a0%)` : ''}`;
}
