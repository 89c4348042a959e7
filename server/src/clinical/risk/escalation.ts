import type { Communication, Practitioner, Reference, Task } from '@medplum/fhirtypes';
import { auditTrailFor } from '../../audit/audit-trail.ts';
import type { BackgroundDeps } from '../../background.ts';
import { log } from '../../log.ts';
import type { WriteHook } from '../../store/hooks.ts';
import { Repository } from '../../store/repository.ts';
import { RISK_ESCALATION_SYSTEM } from '../codes.ts';
import { staffCommunication } from './raise.ts';
import { ownerAtStep } from './rota.ts';
import { DEFAULT_DEADLINE_MS, type Priority } from './rules.ts';
import { WAITING, escalationRepo, isRiskTask } from './task.ts';
import { type DueTimer, claimDue, setStep } from './timers.ts';

/**
 * The escalation ladder (issue 8 §1): a risk Task not acknowledged (accepted / in-progress) by its
 * deadline gets the next owner — backup on call, then supervisor, then clinic lead, then the clinic
 * lead again, never stopping — a new version with the step in businessStatus and a note, a renewed
 * deadline (the same window again), and a Communication to the new and the previous owner.
 *
 * Each timer fires in its own short transaction: claim one due row (FOR UPDATE SKIP LOCKED, so of
 * several server processes exactly one takes it), escalate through a tenant-wide repository whose
 * context has no client and no person (the audit trail records the server's own work), renew the
 * timer, commit. A Task that fails to escalate is logged (ids only) and retried a minute later,
 * so one bad Task never blocks the others.
 */
const MAX_PER_ROUND = 100;
const RETRY_MS = 60_000;

export async function escalateDue(deps: BackgroundDeps, hooks: readonly WriteHook[]): Promise<number> {
  let fired = 0;
  for (let i = 0; i < MAX_PER_ROUND; i++) {
    const now = deps.clock.now();
    const root = Repository.forServer(deps.db, {
      reason: 'risk escalation',
      tenant: '',
      fhirBase: deps.fhirBase,
      lenient: false,
      defaultCount: deps.config.defaultCount,
      maxCount: deps.config.maxCount,
      hooks,
    });
    let claimed: DueTimer | undefined;
    try {
      claimed = await root.withTransaction(async (tx) => {
        const [timer] = await claimDue(tx, now, 1);
        if (!timer) return undefined;
        const repo = await escalationRepo(tx, timer.tenant);
        await escalate(repo, timer, now);
        await repo.flush();
        return timer;
      });
    } catch (err) {
      const failed = await postpone(deps, now);
      log.error('risk escalation failed; retried later', { tenant: failed?.tenant, task: failed?.task_id, code: (err as { code?: string }).code, name: (err as Error)?.name });
      if (!failed) break;
      continue;
    }
    if (!claimed) break;
    fired++;
  }
  if (fired) auditTrailFor(deps.db).scheduleSeal();
  return fired;
}

/** Moves the earliest due timer (the one that just failed) a minute on, so the others run. */
async function postpone(deps: BackgroundDeps, now: Date): Promise<DueTimer | undefined> {
  const { rows } = await deps.db.query<DueTimer>(
    `UPDATE risk_timer SET due_at = $2::timestamptz WHERE (tenant, task_id) = (
       SELECT tenant, task_id FROM risk_timer WHERE due_at <= $1::timestamptz ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING tenant, task_id, step`,
    [now.toISOString(), new Date(now.getTime() + RETRY_MS).toISOString()]
  );
  return rows[0];
}

const RUNG_TEXT: Record<string, string> = {
  'on-call-backup': 'backup on call',
  supervisor: 'supervisor',
  'clinic-lead': 'clinic lead',
  repeat: 'clinic lead (again)',
};

async function escalate(repo: Repository, timer: DueTimer, now: Date): Promise<void> {
  let task: Task;
  try {
    task = await repo.readResource<Task>('Task', timer.task_id);
  } catch {
    await repo.aggregateOver([], 'DELETE FROM risk_timer WHERE tenant = $1 AND task_id = $2', [timer.tenant, timer.task_id]);
    return;
  }
  if (!isRiskTask(task) || !WAITING.has(task.status)) {
    await repo.aggregateOver([], 'DELETE FROM risk_timer WHERE tenant = $1 AND task_id = $2', [timer.tenant, timer.task_id]);
    return;
  }
  const previous = task.owner;
  const next = await ownerAtStep(repo, timer.step + 1, previous as Reference<Practitioner> | undefined, now);
  const period = task.restriction?.period;
  const window = period?.start && period.end ? new Date(period.end).getTime() - new Date(period.start).getTime() : NaN;
  const windowMs = window > 0 ? window : DEFAULT_DEADLINE_MS[(task.priority as Priority) ?? 'stat'] ?? DEFAULT_DEADLINE_MS.stat;
  const time = now.toISOString();
  const deadline = new Date(now.getTime() + windowMs).toISOString();
  const who = (r: Reference | undefined) => r?.display ?? r?.reference ?? 'nobody';
  const rung = RUNG_TEXT[next.rung];
  const step = `Escalation step ${next.step} (${rung}): not acknowledged by ${period?.end ?? 'its deadline'}; owner now ${who(next.person)} (was ${who(previous)}); acknowledge by ${deadline}.`;
  const updated = await repo.updateResource<Task>({
    ...task,
    owner: next.person,
    lastModified: time,
    businessStatus: { coding: [{ system: RISK_ESCALATION_SYSTEM, code: next.rung === 'repeat' ? 'clinic-lead' : next.rung, display: rung }], text: `Escalated to ${rung} (step ${next.step})` },
    restriction: { ...task.restriction, period: { start: time, end: deadline } },
    note: [...(task.note ?? []), { time, text: step }],
  });
  await setStep(repo, timer.task_id, next.step);
  const recipients = [next.person, previous].filter((r): r is Reference<Practitioner> => Boolean(r?.reference));
  const unique = recipients.filter((r, i) => recipients.findIndex((x) => x.reference === r.reference) === i);
  for (const to of unique) {
    const text =
      to.reference === next.person.reference
        ? `Escalated to you: a risk follow-up Task (priority ${updated.priority}) was not acknowledged in time. Accept it by ${deadline}. ${step}`
        : `A risk follow-up Task you owned was not acknowledged in time and is now with ${who(next.person)}. ${step}`;
    await repo.createResource<Communication>(staffCommunication(updated, to, 'risk-escalation', text, time));
  }
}
