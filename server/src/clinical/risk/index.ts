import { auditWriteHook } from '../../audit/write-hook.ts';
import type { BackgroundDeps, Loop } from '../../background.ts';
import { startLoop } from '../../background.ts';
import type { WriteHook } from '../../store/hooks.ts';
import { escalateDue } from './escalation.ts';
import { riskRulesHook, riskTaskHook } from './hooks.ts';
import { useRiskClock } from './task.ts';

/**
 * The crisis-risk workflow (issue 8): a positive suicide-risk screen becomes, in the scoring
 * transaction, a risk Task owned by a human, a safety Flag and the patient's crisis resources;
 * an unacknowledged Task escalates; only a clinician closes it. See ./README.md.
 *
 * CONTRACT (set before the work was split):
 * - `riskHooks`: write hooks, placed in server/src/write-hooks.ts after the scoring hook.
 * - `startRiskEscalation(deps)`: the escalation loop over durable timers (migration 007-risk.sql),
 *   started by app.ts; `runOnce()` fires every timer due at `deps.clock.now()`.
 */
export const riskHooks: readonly WriteHook[] = [riskTaskHook, riskRulesHook];

/**
 * `hooks`: the server's full write-hook list (app.ts passes server/src/write-hooks.ts), so an
 * escalation is validated, audited and seen by subscriptions like any write. Without it, the
 * risk and audit hooks (an escalation is never unaudited).
 */
export function startRiskEscalation(deps: BackgroundDeps, hooks: readonly WriteHook[] = [...riskHooks, auditWriteHook]): Loop {
  // Deadlines set while scoring use the same clock as the loop that compares them.
  useRiskClock(deps.clock);
  return startLoop('risk-escalation', deps.config.riskPollMs, () => escalateDue(deps, hooks));
}

export { type RiskWrites, evaluateRisk } from './raise.ts';
export { serverRepoFor } from './task.ts';
export { installRiskDefaults, installRiskDefaultsEverywhere } from './install.ts';
export { DEFAULT_CRISIS_RESOURCES } from './crisis-resources.ts';
export { OUTCOMES } from './hooks.ts';
