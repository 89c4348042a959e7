import { tenantAdminPolicy } from '../../access/policy.ts';
import type { Repository } from '../../store/repository.ts';

/**
 * The server's own follow-up writes inside a caller's transaction (a Goal's achievementStatus
 * after a score arrives, a signature's Provenance and rendering): they are the consequence of a
 * write the caller was allowed to make, so they run with tenant-admin access of the caller's
 * tenant, on the caller's connection (same transaction, same hooks), and keep the caller's
 * identity (access.context) so the audit trail records them as caused by the caller.
 *
 * `serverBuilt`: everything written through it is built by the caller's own code (store/repository.ts).
 *
 * Callers must `flush()` the returned repository before their transaction ends, since creates
 * are buffered per repository.
 *
 * Use it only after the caller's own right to write has been decided by the access decision
 * point: inside a write hook (the triggering create/update/delete already passed the caller's
 * checks: scoring and assignments after a QuestionnaireResponse, goal achievement after an
 * Observation, the psychotherapy split and the risk workflow), or in an operation that first
 * asked `readForUpdate` of the resource it changes (Composition/$sign and $countersign).
 */
export async function systemRepoFor(repo: Repository, options: { serverBuilt?: boolean } = {}): Promise<Repository> {
  await repo.flush(); // make the caller's buffered creates visible to our reads
  // Tenant-wide decisions, but the caller's identity: the audit trail names who caused the write.
  const access = { ...tenantAdminPolicy(repo.ctx.tenant), context: repo.ctx.access.context };
  return repo.derive({ ...repo.ctx, access, serverBuilt: options.serverBuilt });
}
