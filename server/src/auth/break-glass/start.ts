import type { Communication } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { EMERGENCY_TREATMENT, breakGlassMinutes } from '../../access/purpose.ts';
import { auditBreakGlass } from '../../audit/break-glass.ts';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../../clinical/codes.ts';
import { holders } from '../../clinical/risk/rota.ts';
import type { Clock } from '../../clock.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { log } from '../../log.ts';
import type { WriteHook } from '../../store/hooks.ts';
import { Repository } from '../../store/repository.ts';
import { announceRevocation } from '../revocation-channel.ts';
import { type AppUser, listUsers } from '../users/index.ts';

/**
 * Break-glass (issue 10 item 4): a signed-in clinician states why, and for BREAK_GLASS_MINUTES
 * (default 60) every token of theirs is read as purpose of use ETREAT (access/purpose.ts): every
 * patient of the clinic, restricted records included, never others' psychotherapy notes.
 *
 * In this order, so that access is never opened without the supervisors being told:
 *  1. a Communication (category `break-glass`) to every supervisor: the clinic's supervisor rota
 *     (PractitionerRole `supervisor`, as the risk workflow finds them, clinical/risk/rota.ts) and
 *     every staff account with the supervisor role, written with the clinic's own access but the
 *     clinician's identity, through the server's write hooks (audited, delivered to subscribers);
 *  2. the window and its AuditEvent (110127 Emergency Override Started, with the reason), in one
 *     transaction;
 *  3. the person's cached token policies are dropped on every process, so the window opens at once.
 */
export const BREAK_GLASS_CATEGORY = 'break-glass';

export interface BreakGlassDeps {
  db: Database;
  config: Config;
  clock: Clock;
  hooks?: readonly WriteHook[];
}

export async function startBreakGlass(deps: BreakGlassDeps, user: AppUser, reason: string, ip: string | undefined): Promise<{ until: Date; notified: number }> {
  const now = deps.clock.now();
  const until = new Date(now.getTime() + breakGlassMinutes() * 60_000);
  const context = { tenant: user.tenant, clientId: undefined, scope: '', userId: user.id, fhirUser: user.fhirUser, roles: user.roles, purposeOfUse: EMERGENCY_TREATMENT };
  const repo = Repository.forServer(deps.db, {
    reason: 'break-glass notice',
    tenant: user.tenant,
    // Tenant-wide: the notice goes to people the clinician may not reach; the audit names her.
    onBehalfOf: context,
    fhirBase: `${deps.config.baseUrl}/fhir/R4`,
    lenient: false,
    defaultCount: 100,
    maxCount: 1000,
    hooks: deps.hooks,
  });
  const supervisors = (await supervisorsOf(deps.db, repo, now)).filter((s) => s !== user.fhirUser);
  if (supervisors.length === 0) log.error('break-glass: the clinic has no supervisor to notify', { tenant: user.tenant });
  const who = user.displayName ?? user.username;
  const notice = await repo.createResource<Communication>({
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: BREAK_GLASS_CATEGORY, display: 'Break-glass access started' }] }],
    priority: 'urgent',
    sent: now.toISOString(),
    sender: { reference: user.fhirUser, display: who },
    recipient: supervisors.map((reference) => ({ reference })),
    reasonCode: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: EMERGENCY_TREATMENT, display: 'Emergency Treatment' }] }],
    payload: [
      {
        contentString: `${who} started break-glass access (every patient of the clinic, restricted records included) until ${until.toISOString()}. Reason given: ${reason}`,
      },
    ],
  });
  await deps.db.transaction(async (q) => {
    await q.query(`INSERT INTO break_glass (tenant, id, user_id, reason, started_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
      user.tenant,
      randomUUID(),
      user.id,
      reason,
      now.toISOString(),
      until.toISOString(),
    ]);
    await auditBreakGlass(q, { tenant: user.tenant, userId: user.id, fhirUser: user.fhirUser, roles: user.roles, ip, reason, until, notice: `Communication/${notice.id}` });
  });
  await announceRevocation(deps.db, [user.id]);
  return { until, notified: supervisors.length };
}

/** `Practitioner/<id>` of the clinic's supervisors: the rota's and the staff accounts'. */
async function supervisorsOf(db: Database, repo: Repository, now: Date): Promise<string[]> {
  const out = new Set((await holders(repo, 'supervisor', now)).map((p) => p.reference));
  for (const u of await listUsers(db, repo.ctx.tenant)) {
    if (!u.disabled && u.roles.includes('supervisor') && u.fhirUser.startsWith('Practitioner/')) out.add(u.fhirUser);
  }
  return [...out].sort();
}
