import type { Resource } from '@medplum/fhirtypes';
import { fail } from '../kernel/outcome.ts';
import type { WriteHook } from '../store/hooks.ts';
import { restAuditEvent } from './audit-event.ts';
import { auditStatement } from './audit-store.ts';
import { type AuditRequestScope, auditRequestScope } from './audit-trail.ts';
import { addPatientsOf } from './patients.ts';

/**
 * The audit write hook (runs last, see server/src/write-hooks.ts).
 *
 * beforeWrite: nobody creates, updates, patches or deletes an AuditEvent through the API — not
 * even a tenant admin or a system/*.cruds token (R4 AuditEvent scope: "typically not changed");
 * the server writes them itself through ./audit-store.ts, which this hook never sees. 405.
 *
 * afterWrite: the AuditEvent of a create/update/patch/delete is stored in the write's own
 * transaction (the repository opens one whenever a hook has afterWrite), so a write that rolls
 * back leaves no AuditEvent claiming success, and a committed write is audited when it commits.
 */
export const auditWriteHook: WriteHook = {
  name: 'audit',
  types: '*',
  async beforeWrite(event) {
    if (event.resourceType === 'AuditEvent') {
      fail('method-not-allowed', `AuditEvents are recorded by the server and cannot be ${PAST[event.method]} through the API`);
    }
  },
  async afterWrite(event) {
    if (event.resourceType === 'AuditEvent') return;
    const scope = auditRequestScope.getStore();
    const stored = event.after as Resource | undefined;
    const version = stored?.meta?.versionId;
    const what = `${event.resourceType}/${event.id}${version ? `/_history/${version}` : ''}`;
    const repo = event.repo;
    const key = repo.transactionKey;
    // One interaction, one AuditEvent (R4 AuditEvent; IHE BALP: one event per RESTful interaction):
    // a REST write or a transaction bundle records every resource it wrote — its own and those the
    // server derived from it in the same transaction (scores, a risk Task, a Flag…) — in one
    // event stored in that transaction just before it commits, naming each entity with its
    // lifecycle and every patient. Was one event per resource: fifteen for one positive screen.
    if (scope && key && aggregated(scope)) {
      let agg = gathering.get(scope);
      if (agg?.key !== key) {
        // The first write of this transaction (a retried attempt starts over).
        const gathered: Gathered = (agg = { key, entries: [], patients: new Set<string>() });
        gathering.set(scope, gathered);
        repo.onBeforeCommit(async (root) => {
          if (gathering.get(scope) === gathered) gathering.delete(scope);
          // The request's own writes first (those of the transaction's root repository), then
          // what the server derived from them.
          const own = gathered.entries.filter((e) => e.repo === root);
          const ordered = [...own, ...gathered.entries.filter((e) => e.repo !== root)];
          const listed = ordered.slice(0, MAX_ENTITIES);
          const bundle = isTransactionBundle(scope);
          const method = own[0]?.method ?? ordered[0]?.method ?? 'create';
          const audit = restAuditEvent({
            tenant: root.ctx.tenant,
            context: root.ctx.access.context,
            ip: scope.ip,
            author: true,
            interaction: bundle ? 'transaction' : method,
            status: !bundle && method === 'create' ? 201 : 200,
            what: listed.map((e) => e.what),
            lifecycle: listed.map((e) => LIFECYCLE[e.method]),
            moreEntities: ordered.length - listed.length,
            patients: gathered.patients,
          });
          await root.deferStatement(auditStatement(root.ctx.tenant, [audit]));
          scope.writesAudited += 1;
          scope.trail.scheduleSeal();
        });
      }
      agg.entries.push({ what, method: event.method, repo });
      addPatientsOf(event.after, agg.patients);
      addPatientsOf(event.before, agg.patients);
      return;
    }
    const patients = new Set<string>();
    addPatientsOf(event.after, patients);
    addPatientsOf(event.before, patients);
    const audit = restAuditEvent({
      tenant: repo.ctx.tenant,
      context: repo.ctx.access.context,
      ip: scope?.ip,
      author: true,
      interaction: event.method,
      status: event.method === 'create' ? 201 : 200,
      what: [what],
      patients,
    });
    await repo.deferStatement(auditStatement(repo.ctx.tenant, [audit]));
    if (scope) {
      scope.writesAudited += 1;
      scope.trail.scheduleSeal();
    }
  },
};

interface Gathered {
  /** The transaction (Repository.transactionKey) whose writes these are. */
  key: object;
  entries: { what: string; method: keyof typeof LIFECYCLE; repo: unknown }[];
  patients: Set<string>;
}
/** Per request: the writes of its open transaction, gathered for that transaction's one AuditEvent. */
const gathering = new WeakMap<AuditRequestScope, Gathered>();

function isTransactionBundle(scope: AuditRequestScope): boolean {
  const body = scope.body as { resourceType?: string; type?: string } | undefined;
  return scope.interaction === 'batch' && body?.resourceType === 'Bundle' && body.type === 'transaction';
}

/**
 * Interactions whose writes share one AuditEvent: a REST create/update/patch/delete and a
 * transaction bundle. A batch bundle's entries are separate interactions, each in its own
 * transaction; an operation's writes are recorded one by one beside the operation's own event.
 */
function aggregated(scope: AuditRequestScope): boolean {
  return isTransactionBundle(scope) || (scope.interaction !== undefined && REST_WRITES.has(scope.interaction));
}
const REST_WRITES = new Set(['create', 'update', 'patch', 'delete']);

/** Resource entities named on one transaction's AuditEvent; beyond, a count (patients are all kept). */
const MAX_ENTITIES = 1000;
/** DICOM audit lifecycle (R4 AuditEvent.entity.lifecycle): creation, amendment, logical deletion. */
const LIFECYCLE = { create: '1', update: '3', patch: '3', delete: '14' } as const;

const PAST = { create: 'created', update: 'updated', patch: 'patched', delete: 'deleted' } as const;
