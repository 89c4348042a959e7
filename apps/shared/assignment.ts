import type { Task } from '@medplum/fhirtypes';

/**
 * An instrument assigned to a patient: an SDC "questionnaire task"
 * (https://hl7.org/fhir/uv/sdc/workflow.html, Task.code complete-questionnaire), created by a
 * clinician from notes or the worklist and shown by intake at once. `for` and `owner` are the
 * patient (who fills it), `input` the Questionnaire as `url|version` (our server requires the
 * version), `requester` the clinician. The server marks it completed, with the response as
 * `output`, when a completed QuestionnaireResponse for that questionnaire and patient is saved.
 */
export const SDC_TASK_SYSTEM = 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp';
export const COMPLETE_QUESTIONNAIRE = 'complete-questionnaire';
export const QUESTIONNAIRE_INPUT = 'questionnaire';
export const RESPONSE_OUTPUT = 'response';

export function questionnaireTask(input: { patientId: string; questionnaire: string; requester: string; note?: string; due?: string }): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: SDC_TASK_SYSTEM, code: COMPLETE_QUESTIONNAIRE, display: 'Complete questionnaire' }] },
    for: { reference: `Patient/${input.patientId}` },
    owner: { reference: `Patient/${input.patientId}` },
    requester: { reference: input.requester },
    authoredOn: new Date().toISOString(),
    ...(input.due ? { restriction: { period: { end: input.due } } } : {}),
    ...(input.note ? { note: [{ text: input.note }] } : {}),
    input: [{ type: { coding: [{ system: SDC_TASK_SYSTEM, code: QUESTIONNAIRE_INPUT }] }, valueCanonical: input.questionnaire }],
  };
}

/** Search for a patient's open assignments: `Task?code=...&patient=...&status=requested,in-progress`. */
export const openAssignmentsQuery = (patientId: string): string =>
  `Task?code=${encodeURIComponent(`${SDC_TASK_SYSTEM}|${COMPLETE_QUESTIONNAIRE}`)}&patient=Patient/${patientId}&status=requested,in-progress`;
