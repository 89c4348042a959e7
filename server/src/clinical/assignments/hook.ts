import type { QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import type { SearchRequest } from '../../store/search/batch.ts';

/**
 * Assignments: an instrument assigned to a patient is an SDC "questionnaire task"
 * (https://hl7.org/fhir/uv/sdc/workflow.html): Task.code complete-questionnaire, `for` the
 * patient, input `questionnaire` = the Questionnaire's canonical `url|version`
 * (apps/shared/assignment.ts builds them). The patient (or a guardian, or a clinician on their
 * behalf) answers in the intake app; this hook keeps the Task in step with the answers, in the
 * transaction of the response:
 *  - a completed (or amended) QuestionnaireResponse for that questionnaire and patient completes
 *    the oldest open assignment: status completed, output `response` = the response;
 *  - an in-progress response marks a `requested` assignment in-progress (the clinician sees it
 *    was started).
 * R4 has no QuestionnaireResponse.basedOn → Task, so the pair (patient, questionnaire) is the
 * link. The Task is updated as the server's own work (Repository.asServer): the response itself passed
 * the caller's write checks, so the caller needs no Task write right (a patient app has none).
 */
export const SDC_TASK_SYSTEM = 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp';
export const COMPLETE_QUESTIONNAIRE = 'complete-questionnaire';
const QUESTIONNAIRE_INPUT = 'questionnaire';
const RESPONSE_OUTPUT = 'response';

const OPEN = ['requested', 'received', 'accepted', 'ready', 'in-progress'];
const DONE = new Set(['completed', 'amended']);

/** The questionnaire canonical of an assignment Task (input type `questionnaire`, else any canonical input). */
export function assignedQuestionnaire(task: Task): string | undefined {
  const inputs = task.input ?? [];
  const typed = inputs.find((i) => i.type?.coding?.some((c) => c.code === QUESTIONNAIRE_INPUT) && i.valueCanonical);
  return (typed ?? inputs.find((i) => i.valueCanonical))?.valueCanonical;
}

/** Same instrument: equal canonicals, or equal urls when either side names no version. */
export function sameQuestionnaire(a: string, b: string): boolean {
  if (a === b) return true;
  const [ua, va] = a.split('|');
  const [ub, vb] = b.split('|');
  return ua === ub && (!va || !vb);
}

/**
 * The search for the patient's assignment Tasks that a write of `response` makes (undefined: the
 * write touches no assignment): completed → the open ones, in-progress → the requested ones.
 */
function assignmentSearch(response: QuestionnaireResponse | undefined, before: QuestionnaireResponse | undefined): SearchRequest | undefined {
  if (!response?.questionnaire) return undefined;
  const patient = response.subject?.reference;
  if (!patient?.startsWith('Patient/')) return undefined;
  const done = DONE.has(response.status);
  if (!done && response.status !== 'in-progress') return undefined;
  // An amended response was already counted when it was first completed.
  if (done && before && DONE.has(before.status)) return undefined;
  return [
    'Task',
    [
      ['patient', patient],
      ['code', `${SDC_TASK_SYSTEM}|${COMPLETE_QUESTIONNAIRE}`],
      ['status', (done ? OPEN : ['requested']).join(',')],
      ['_count', '100'],
    ],
  ];
}

export const assignmentHook: WriteHook = {
  name: 'questionnaire-assignment',
  types: ['QuestionnaireResponse'],

  // The Task search of afterWrite goes out with the other hooks' reads, before the response is stored.
  readAhead(event: WriteEvent) {
    const search = assignmentSearch(event.after as QuestionnaireResponse | undefined, undefined);
    return search ? { searches: [search] } : undefined;
  },

  async afterWrite(event: WriteEvent) {
    if (event.method === 'delete') return;
    const response = event.after as QuestionnaireResponse | undefined;
    const search = assignmentSearch(response, event.before as QuestionnaireResponse | undefined);
    if (!response || !search) return;
    const patient = response.subject?.reference as string;
    const done = DONE.has(response.status);

    const server = await event.repo.asServer({ reason: 'questionnaire assignment' });
    const bundle = await server.searchParams(...search);
    const tasks = (bundle.entry ?? [])
      .map((e) => e.resource as Task)
      .filter((t) => t.for?.reference === patient)
      .filter((t) => {
        const q = assignedQuestionnaire(t);
        return q !== undefined && sameQuestionnaire(q, response.questionnaire as string);
      })
      .sort((a, b) => (a.authoredOn ?? '').localeCompare(b.authoredOn ?? '') || (a.id ?? '').localeCompare(b.id ?? ''));
    const task = tasks[0];
    if (!task) return;
    const now = new Date().toISOString();
    if (done) {
      await server.updateResource<Task>({
        ...task,
        status: 'completed',
        lastModified: now,
        output: [
          ...(task.output ?? []),
          {
            type: { coding: [{ system: SDC_TASK_SYSTEM, code: RESPONSE_OUTPUT, display: 'Response' }] },
            valueReference: { reference: `QuestionnaireResponse/${event.id}` },
          },
        ],
      });
    } else {
      await server.updateResource<Task>({ ...task, status: 'in-progress', lastModified: now });
    }
    await server.settle();
  },
};
