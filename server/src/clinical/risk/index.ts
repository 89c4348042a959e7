import type { BackgroundDeps, Loop } from '../../background.ts';
import { startLoop } from '../../background.ts';
import type { WriteHook } from '../../store/hooks.ts';

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
export const riskHooks: readonly WriteHook[] = [];

export function startRiskEscalation(deps: BackgroundDeps): Loop {
  return startLoop('risk-escalation', deps.config.riskPollMs, async () => 0);
}
