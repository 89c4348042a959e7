import type { Task } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { WAITING, isRiskTask } from './task.ts';

/**
 * The durable timer rows (migration 007-risk.sql), always written on the Task's own transaction
 * (the repository's raw-statement entry point on its connection; nothing here reads resources,
 * so buffered creates are not flushed for it).
 */
const sql = <T>(repo: Repository, text: string, params: unknown[]) => repo.aggregateOver<T>([], text, params);

/**
 * Takes the Task's timer row lock before the Task row is written, so a client's change and an
 * escalation of the same Task queue behind each other in one order (no deadlock): whichever
 * commits second sees the other's version.
 */
export async function lockTimer(repo: Repository, taskId: string): Promise<void> {
  await sql(repo, 'SELECT 1 FROM risk_timer WHERE tenant = $1 AND task_id = $2 FOR UPDATE', [repo.ctx.tenant, taskId]);
}

/** After a write of a risk Task: a waiting Task has its deadline as timer; any other has none. */
export async function syncTimer(repo: Repository, taskId: string, task: Task | undefined, created = false): Promise<void> {
  const due = task?.restriction?.period?.end;
  if (task && isRiskTask(task) && WAITING.has(task.status) && due) {
    const upsert = {
      sql: `INSERT INTO risk_timer (tenant, task_id, due_at) VALUES ($1, $2, $3::timestamptz)
       ON CONFLICT (tenant, task_id) DO UPDATE SET due_at = EXCLUDED.due_at`,
      params: [repo.ctx.tenant, taskId, due],
    };
    // A new Task's timer is read by nothing else in its transaction: it goes out with the
    // transaction's writes (same round trip), and commits or rolls back with them.
    if (created) await repo.deferStatement(upsert);
    else await sql(repo, upsert.sql, upsert.params);
  } else {
    await sql(repo, 'DELETE FROM risk_timer WHERE tenant = $1 AND task_id = $2', [repo.ctx.tenant, taskId]);
  }
}

export async function setStep(repo: Repository, taskId: string, step: number): Promise<void> {
  await sql(repo, 'UPDATE risk_timer SET step = $3 WHERE tenant = $1 AND task_id = $2', [repo.ctx.tenant, taskId, step]);
}

export interface DueTimer {
  tenant: string;
  task_id: string;
  step: number;
}

/** Claims up to `limit` timers due at `now`, skipping those another process holds. */
export async function claimDue(repo: Repository, now: Date, limit: number): Promise<DueTimer[]> {
  return sql<DueTimer>(
    repo,
    `SELECT tenant, task_id, step FROM risk_timer WHERE due_at <= $1::timestamptz
     ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now.toISOString(), limit]
  );
}
