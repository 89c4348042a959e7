import type { QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import type { Statement } from '../../db/database.ts';
import { parseJson } from '../../kernel/json.ts';

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
 * The read of the patient's assignment Tasks that a write of `response` makes (undefined: the
 * write touches no assignment): completed → the open ones, in-progress → the requested ones.
 * Exactly `Task?patient=<patient>&code=<SDC_TASK_SYSTEM>|complete-questionnaire&status=<…>&_count=100`
 * (in id order; the caller chooses among them), read straight from the index tables in one
 * statement: the hook runs for every submitted response, and the full search (parsing, access
 * composition, paging, bundle) cost more than the rest of its work. No access predicate: the hook
 * decides tenant-wide, as its tenant-wide repository (Repository.asServer) does for the update it makes.
 */
function assignmentRead(tenant: string, response: QuestionnaireResponse | undefined, before: QuestionnaireResponse | undefined): Statement | undefined {
  if (!response?.questionnaire) return undefined;
  const patient = response.subject?.reference;
  if (!patient?.startsWith('Patient/')) return undefined;
  const done = DONE.has(response.status);
  if (!done && response.status !== 'in-progress') return undefined;
  // An amended response was already counted when it was first completed.
  if (done && before && DONE.has(before.status)) return undefined;
  return {
    sql: `SELECT r.content FROM resource r
     WHERE r.tenant = $1 AND r.type = 'Task'
       AND r.id IN (SELECT x.rid FROM idx_reference x WHERE x.tenant = $1 AND x.rtype = 'Task' AND x.param = 'patient' AND x.target_id = $2 AND x.target_type = 'Patient')
       AND r.id IN (SELECT c.rid FROM idx_token c WHERE c.tenant = $1 AND c.rtype = 'Task' AND c.param = 'code' AND c.code = $3 AND c.system = $4)
       AND r.id IN (SELECT s.rid FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'Task' AND s.param = 'status' AND s.code = ANY($5::text[]))
     ORDER BY r.id LIMIT 100`,
    params: [tenant, patient.slice('Patient/'.length), COMPLETE_QUESTIONNAIRE, SDC_TASK_SYSTEM, done ? OPEN : ['requested']],
  };
}

export const assignmentHook: WriteHook = {
  name: 'questionnaire-assignment',
  types: ['QuestionnaireResponse'],

  // The Task read of afterWrite goes out with the other hooks' reads, before the response is stored.
  readAhead(event: WriteEvent) {
    const statement = assignmentRead(event.repo.ctx.tenant, event.after as QuestionnaireResponse | undefined, undefined);
    return statement ? { statements: [{ statement, types: ['Task'] }] } : undefined;
  },

  async afterWrite(event: WriteEvent) {
    if (event.method === 'delete') return;
    const response = event.after as QuestionnaireResponse | undefined;
    const read = assignmentRead(event.repo.ctx.tenant, response, event.before as QuestionnaireResponse | undefined);
    if (!response || !read) return;
    const patient = response.subject?.reference as string;
    const done = DONE.has(response.status);

    const server = await event.repo.asServer({ reason: 'questionnaire assignment' });
    const rows = await server.aggregateOver<{ content: string }>(['Task'], read.sql, read.params as unknown[]);
    const tasks = rows
      .map((r) => parseJson(r.content) as Task)
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
