import type { Task } from '@medplum/fhirtypes';
import type { Clock } from '../../clock.ts';
import { systemClock } from '../../clock.ts';
import type { Repository } from '../../store/repository.ts';
import { RISK_TASK_CODE, RISK_TASK_SYSTEM } from '../codes.ts';

/** Shared facts about risk Tasks for the hooks, the raising and the escalation. */
export function isRiskTask(task: Task | undefined): boolean {
  return Boolean(task?.code?.coding?.some((c) => c.system === RISK_TASK_SYSTEM && c.code === RISK_TASK_CODE));
}

/** Not yet acknowledged: these wait on a timer (https://hl7.org/fhir/R4/task.html#statemachine). */
export const WAITING = new Set(['draft', 'requested', 'received', 'ready']);
/** Acknowledged by a person: escalation stops. */
export const ACKNOWLEDGED = new Set(['accepted', 'in-progress']);
/** Closed by a person (only completed / cancelled are allowed for risk Tasks). */
export const CLOSED = new Set(['completed', 'cancelled']);
/** Open = one per patient; a later positive screen joins it. */
export const OPEN_STATUSES = ['requested', 'received', 'ready', 'accepted', 'in-progress'];

/**
 * Repositories through which the risk workflow writes its own resources (Tasks, Flags,
 * Communications, escalations): the Task hook lets these set owner and deadline, which clients may not.
 */
const serverRepos = new WeakSet<Repository>();
export function isServerWork(repo: Repository): boolean {
  return serverRepos.has(repo);
}

/** The caller's transaction with tenant-wide access and the caller's identity (a screen's follow-up). */
export async function serverRepoFor(repo: Repository): Promise<Repository> {
  const server = await repo.asServer({ reason: 'risk workflow', serverBuilt: true });
  serverRepos.add(server);
  return server;
}

/**
 * The escalation loop's repository in `tenant`, from its tenant-less root: no client, no person,
 * so the audit trail names the server.
 */
export async function escalationRepo(root: Repository, tenant: string): Promise<Repository> {
  const server = await root.asServer({ reason: 'risk escalation', serverBuilt: true, tenant });
  serverRepos.add(server);
  return server;
}

/**
 * The clock deadlines are computed with: the server's (app.ts hands it to startRiskEscalation),
 * so the scoring path and the escalation loop agree, and tests move both together. One per
 * process: the most recently started server's (tests with two servers give both the same clock).
 */
let clock: Clock = systemClock;
export function useRiskClock(c: Clock): void {
  clock = c;
}
export function riskNow(): Date {
  return clock.now();
}
