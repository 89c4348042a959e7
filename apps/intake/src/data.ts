import type { Communication, Flag, HealthcareService, Observation, Questionnaire, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { SDC_TASK_SYSTEM, COMPLETE_QUESTIONNAIRE, QUESTIONNAIRE_INPUT, openAssignmentsQuery } from '../../shared/assignment.ts';
import { problemFrom } from '../../shared/problem.ts';
import type { Fhir } from './fhir.ts';

/**
 * What intake reads from the server, always fresh. The crisis resources and the score are the
 * server's: the crisis-resources Communication the risk workflow wrote in the scoring
 * transaction (server/src/clinical/risk/README.md) and the scored total Observation derived from
 * the response (server/src/clinical/codes.ts); nothing is computed here.
 */
export const CRISIS_CATEGORY = 'http://bh-fhir.org/fhir/CodeSystem/communication-category|crisis-resources';
const RISK_FLAG = 'http://bh-fhir.org/fhir/CodeSystem/risk-flag|suicide-risk';
const SEVERITY_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/severity-band';

export interface Assignment {
  task: Task;
  canonical: string;
  questionnaire?: Questionnaire;
}

export function taskCanonical(task: Task): string | undefined {
  const inputs = task.input ?? [];
  const typed = inputs.find((i) => i.type?.coding?.some((c) => c.system === SDC_TASK_SYSTEM && c.code === QUESTIONNAIRE_INPUT));
  return (typed ?? inputs.find((i) => i.valueCanonical))?.valueCanonical;
}

/** Resolves `url|version` (or `url`: the highest version) to the tenant's Questionnaire. */
export async function findQuestionnaire(fhir: Fhir, canonical: string): Promise<Questionnaire | undefined> {
  const [url, version] = canonical.split('|');
  const found = await fhir.search<Questionnaire>(`Questionnaire?url=${encodeURIComponent(url)}${version ? `&version=${encodeURIComponent(version)}` : ''}&_count=20`);
  return found
    .filter((q) => q.url === url && (!version || q.version === version))
    .sort((a, b) => (b.version ?? '').localeCompare(a.version ?? '', 'en', { numeric: true }))[0];
}

/** A section the person may not see (403): shown as "not shared", never as an error. */
async function orHidden<T>(p: Promise<T[]>): Promise<T[] | 'hidden'> {
  try {
    return await p;
  } catch (e) {
    if (problemFrom(e).kind === 'forbidden') return 'hidden';
    throw e;
  }
}

export interface Home {
  assignments: Assignment[] | 'hidden';
  drafts: QuestionnaireResponse[] | 'hidden';
  crisis?: Crisis;
}

export async function loadHome(fhir: Fhir, patientId: string): Promise<Home> {
  const [tasks, drafts, crisis] = await Promise.all([
    orHidden(fhir.search<Task>(`${openAssignmentsQuery(patientId)}&_count=50`)),
    orHidden(fhir.search<QuestionnaireResponse>(`QuestionnaireResponse?subject=Patient/${patientId}&status=in-progress&_count=50`)),
    openRisk(fhir, patientId),
  ]);
  let assignments: Assignment[] | 'hidden' = 'hidden';
  if (tasks !== 'hidden') {
    const sdc = tasks.filter((t) => t.code?.coding?.some((c) => c.system === SDC_TASK_SYSTEM && c.code === COMPLETE_QUESTIONNAIRE));
    const canonicals = [...new Set(sdc.map(taskCanonical).filter((c): c is string => Boolean(c)))];
    const questionnaires = new Map(await Promise.all(canonicals.map(async (c) => [c, await findQuestionnaire(fhir, c).catch(() => undefined)] as const)));
    assignments = sdc
      .filter((t) => taskCanonical(t))
      .map((task) => ({ task, canonical: taskCanonical(task) as string, questionnaire: questionnaires.get(taskCanonical(task) as string) }))
      .sort((a, b) => (a.task.restriction?.period?.end ?? '9999').localeCompare(b.task.restriction?.period?.end ?? '9999') || (a.task.authoredOn ?? '').localeCompare(b.task.authoredOn ?? ''));
  }
  return { assignments, drafts, crisis };
}

export interface Crisis {
  /** The Communication's words, as the server wrote them. */
  text: string;
  /** Ways to reach help now, from the HealthcareServices it names (tel:, sms:, https:). */
  contacts: { label: string; href: string }[];
}

async function crisisFrom(fhir: Fhir, c: Communication | undefined): Promise<Crisis | undefined> {
  if (!c) return undefined;
  const text = (c.payload ?? []).map((p) => p.contentString).filter(Boolean).join('\n');
  const services = await Promise.all(
    (c.payload ?? [])
      .map((p) => p.contentReference?.reference)
      .filter((r): r is string => Boolean(r?.startsWith('HealthcareService/')))
      .map((r) => fhir.read<HealthcareService>(r).catch(() => undefined))
  );
  const contacts: Crisis['contacts'] = [];
  for (const s of services) {
    for (const t of [...(s?.telecom ?? [])].sort((a, b) => (a.rank ?? 9) - (b.rank ?? 9))) {
      if (!t.value) continue;
      if (t.system === 'phone') contacts.push({ label: `Call ${t.value}`, href: `tel:${t.value}` });
      else if (t.system === 'sms') contacts.push({ label: `Text ${t.value}`, href: `sms:${t.value}` });
      else if (t.system === 'url' && /^https:\/\//.test(t.value)) contacts.push({ label: `Chat online (${s?.name ?? 'crisis line'})`, href: t.value });
    }
  }
  return { text, contacts };
}

/** The crisis resources the server wrote for this response (right after submitting). */
export async function crisisForResponse(fhir: Fhir, responseId: string): Promise<Crisis | undefined> {
  const found = await fhir.search<Communication>(`Communication?based-on=QuestionnaireResponse/${responseId}&category=${encodeURIComponent(CRISIS_CATEGORY)}&_count=1`);
  return crisisFrom(fhir, found[0]);
}

/** While a risk is open (the safety Flag is active), the latest crisis resources stay on the home screen. */
async function openRisk(fhir: Fhir, patientId: string): Promise<Crisis | undefined> {
  let flags: Flag[];
  try {
    flags = await fhir.search<Flag>(`Flag?patient=Patient/${patientId}&_count=100`);
  } catch (e) {
    if (problemFrom(e).kind === 'forbidden') return undefined;
    throw e;
  }
  const [system, code] = RISK_FLAG.split('|');
  if (!flags.some((f) => f.status === 'active' && f.code?.coding?.some((c) => c.system === system && c.code === code))) return undefined;
  const messages = await fhir
    .search<Communication>(`Communication?subject=Patient/${patientId}&category=${encodeURIComponent(CRISIS_CATEGORY)}&_count=50`)
    .catch(() => [] as Communication[]);
  const latest = messages.sort((a, b) => (b.sent ?? '').localeCompare(a.sent ?? ''))[0];
  return (await crisisFrom(fhir, latest)) ?? { text: '', contacts: [] };
}

export interface Score {
  total?: number;
  band?: string;
  /** The server's own words about risk findings (interpretation text), if any. */
  notes: string[];
}

/** The server's scored total for a response: the derived Observation that carries a severity band. */
export async function scoreForResponse(fhir: Fhir, responseId: string): Promise<Score | undefined> {
  const derived = await fhir.search<Observation>(`Observation?derived-from=QuestionnaireResponse/${responseId}&status=final,amended&_count=100`);
  const total = derived.find((o) => o.interpretation?.some((i) => i.coding?.some((c) => c.system === SEVERITY_SYSTEM)));
  if (!total) return undefined;
  const band = total.interpretation?.find((i) => i.coding?.some((c) => c.system === SEVERITY_SYSTEM));
  return {
    total: total.valueQuantity?.value ?? total.valueInteger,
    band: band?.text ?? band?.coding?.[0]?.display,
    notes: (total.interpretation ?? []).filter((i) => i !== band).map((i) => i.text ?? i.coding?.[0]?.display ?? '').filter(Boolean),
  };
}
