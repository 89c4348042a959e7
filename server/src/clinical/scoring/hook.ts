import type { Observation, Patient, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import { activeGoalsStatement } from '../careplan/goal-achievement.ts';
import { RISK_RULES_ID } from '../codes.ts';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import { evaluateRisk, serverRepoFor } from '../risk/index.ts';
import { extractObservations } from '../extract/index.ts';
import type { Repository } from '../../store/repository.ts';
import { instrumentByUrl } from './definitions.ts';
import { type ScoreResult, scoreObservations, scoreResponse, sexOf } from './index.ts';
import { resolveQuestionnaire } from './resolve.ts';
import { validateResponse } from './validate-response.ts';

/**
 * The scoring write hook on QuestionnaireResponse (DESIGN.md write path: "a completed
 * QuestionnaireResponse is scored and its Observations extracted").
 *
 * beforeWrite: a response naming a Questionnaire is validated against it (400 naming the item
 *   otherwise, nothing stored); a completed or amended one is scored by the server and stored with
 *   the server's totals in place of anything the client sent.
 * afterWrite (same transaction): Observations derived from the previous version are marked
 *   entered-in-error (never two current truths for one response), then the new ones are created:
 *   status final, or amended when they replace earlier ones or the response is `amended`.
 * The Questionnaire and the patient are read with the caller's access. The Observations are the
 * server's own work (scores never come from the client), written with tenant-wide access in the
 * caller's transaction and under the caller's identity for the audit trail: a patient app that
 * may submit its responses needs no right to write Observations. The response itself passed the
 * caller's write checks, so the scores land only where the caller may write a response.
 */
const COMPLETE = new Set(['completed', 'amended']);
const UNCHECKED = new Set(['entered-in-error', 'stopped']);

/** Scores computed in beforeWrite, handed to afterWrite of the same write (same repository). */
const pending = new WeakMap<Repository, Map<string, { questionnaire: Questionnaire; score: ScoreResult }>>();

export const scoringHook: WriteHook = {
  name: 'questionnaire-scoring',
  types: ['QuestionnaireResponse'],

  async beforeWrite(event: WriteEvent) {
    pending.get(event.repo)?.delete(event.id);
    const response = event.after as QuestionnaireResponse | undefined;
    if (!response || event.method === 'delete' || !response.questionnaire || UNCHECKED.has(response.status)) return undefined;
    const questionnaire = await resolveQuestionnaire(event.repo, response.questionnaire);
    if (!COMPLETE.has(response.status)) {
      validateResponse(questionnaire, response, { complete: false });
      return undefined;
    }
    validateResponse(questionnaire, response, { complete: true });
    const sex = instrumentByUrl(questionnaire.url)?.name === 'audit-c' ? sexOf(await subjectPatient(event.repo, response)) : 'unknown';
    const score = scoreResponse(questionnaire, response, { sex, validate: false });
    // Scores become Observations about the subject; without one they would fail as Observations.
    if (!response.subject && extractObservations(questionnaire, score.response).length) {
      fail('invalid', 'A completed response needs a subject: its scores are recorded as Observations about that patient', 'QuestionnaireResponse.subject');
    }
    let byId = pending.get(event.repo);
    if (!byId) pending.set(event.repo, (byId = new Map()));
    byId.set(event.id, { questionnaire, score });
    return score.response;
  },

  // For a new scored response of a patient, the reads that follow its storage go out together
  // with the other hooks' (Repository.readAhead): the tenant's risk rules, which evaluateRisk reads
  // for every such response, and the patient's active Goals, which the goal hook reads once the
  // total is stored (clinical/careplan).
  readAhead(event: WriteEvent) {
    const response = event.after as QuestionnaireResponse | undefined;
    const patient = response?.subject?.reference;
    if (!response?.questionnaire || !COMPLETE.has(response.status) || !patient?.startsWith('Patient/')) return undefined;
    return {
      reads: [['PlanDefinition', RISK_RULES_ID]],
      statements: [{ statement: activeGoalsStatement(event.repo.ctx.tenant, patient), types: ['Goal'] }],
    };
  },

  async afterWrite(event: WriteEvent) {
    const byId = pending.get(event.repo);
    const scored = byId?.get(event.id);
    byId?.delete(event.id);
    const response = event.after as QuestionnaireResponse | undefined;
    if (event.method === 'create' && (!scored || !response || !COMPLETE.has(response.status))) return;
    // The server's own writes (scores, and a risk follow-up: its Task may carry an owner and a
    // deadline, which a client's may not), built by our code (serverBuilt).
    const server = await serverRepoFor(event.repo);
    const superseded = event.method === 'create' ? 0 : await supersede(server, event.id);
    if (scored && response && COMPLETE.has(response.status)) {
      // The tenant's risk rules, in this transaction: a positive screen is never stored without its
      // risk Task, Flag and the patient's crisis resources (clinical/risk). Its reads come first,
      // then every write of this response goes out in one statement at the flush.
      const risk = await evaluateRisk(server, scored.questionnaire, scored.score, { ...response, id: event.id }, { created: event.method === 'create' });
      const status = superseded > 0 || response.status === 'amended' ? 'amended' : 'final';
      const observations = scoreObservations(scored.questionnaire, { ...scored.score, response: { ...scored.score.response, id: event.id } }, status);
      for (const obs of observations) await server.createResource<Observation>(obs);
      await risk?.();
    }
    await server.settle();
  },
};

/** Marks the current Observations derived from the response entered-in-error; returns how many. */
async function supersede(repo: Repository, responseId: string): Promise<number> {
  const bundle = await repo.searchParams('Observation', [
    ['derived-from', `QuestionnaireResponse/${responseId}`],
    ['status', 'final,amended,corrected,preliminary'],
    ['_count', '1000'],
  ]);
  const current = (bundle.entry ?? []).map((e) => e.resource as Observation);
  for (const obs of current) await repo.updateResource<Observation>({ ...obs, status: 'entered-in-error' });
  return current.length;
}

/** The Patient the response is about, or undefined when it cannot be read (unknown sex). */
async function subjectPatient(repo: Repository, response: QuestionnaireResponse): Promise<Patient | undefined> {
  const ref = response.subject?.reference;
  if (!ref?.startsWith('Patient/')) return undefined;
  try {
    return await repo.readReference<Patient>({ reference: ref });
  } catch {
    return undefined;
  }
}
