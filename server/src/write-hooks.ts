import { auditWriteHook } from './audit/write-hook.ts';
import { assignmentHook } from './clinical/assignments/hook.ts';
import { consentHook } from './clinical/consent/hook.ts';
import { goalAchievementHook } from './clinical/careplan/goal-achievement.ts';
import { noteHook } from './clinical/notes/note-hook.ts';
import { outcomesHook } from './clinical/outcomes/hook.ts';
import { part2Hook } from './clinical/part2/hook.ts';
import { profileValidationHook } from './clinical/profiles/profile-hook.ts';
import { riskHooks } from './clinical/risk/index.ts';
import { scoringHook } from './clinical/scoring/hook.ts';
import { subscriptionHooks } from './subscriptions/index.ts';
import type { WriteHook } from './store/hooks.ts';

/**
 * Every write hook the server runs, in order (see store/hooks.ts). Kept in one list so the write
 * path can be read in one place: clinical rules first (they may change or refuse the resource),
 * audit last (it records what was actually stored).
 */
export const writeHooks: readonly WriteHook[] = [
  // Notes first: a signed note is refused before anything else runs; a psychotherapy section is
  // moved out before the note is validated against its profile.
  noteHook,
  // 42 CFR Part 2 labels by rule (program context, SUD codes), before anything validates,
  // derives from or audits the record: what is stored, published and audited carries them.
  part2Hook,
  // An assignment (SDC questionnaire Task) follows its answers: completed with the response
  // (clinical/assignments). Its afterWrite runs before scoring's: its search for the patient's
  // assignment Tasks then finds no buffered risk Task to write first (one round trip, not two).
  assignmentHook,
  // A QuestionnaireResponse is validated against its Questionnaire and scored by the server;
  // its Observations are written in the same transaction (clinical/scoring/hook.ts).
  scoringHook,
  // Risk Tasks: only a clinician completes or cancels one, with an outcome (clinical/risk).
  ...riskHooks,
  profileValidationHook,
  goalAchievementHook,
  // The cohort report's narrow copies of scores and scheduled assessments (clinical/outcomes/hook.ts).
  outcomesHook,
  // Consent: a patient only revokes their own; every change reaches external recipients' cached policies (clinical/consent).
  consentHook,
  // Subscriptions: a Subscription is checked; every change that matches one is recorded as an
  // event in this transaction (subscriptions/), so a committed change is never missed.
  ...subscriptionHooks,
  auditWriteHook,
];
