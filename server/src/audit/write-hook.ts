import type { Resource } from '@medplum/fhirtypes';
import { fail } from '../fhir/outcome.ts';
import type { WriteHook } from '../store/hooks.ts';
import { restAuditEvent } from './audit-event.ts';
import { auditVersions } from './audit-store.ts';
import { auditRequestScope } from './audit-trail.ts';
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
    // A transaction bundle is one interaction (R4 AuditEvent: one event per interaction): one
    // AuditEvent of subtype transaction naming every entity written and every patient, stored in
    // the bundle's transaction just before it commits. Was one AuditEvent per entry (ingest cost).
    const body = scope?.body as { resourceType?: string; type?: string } | undefined;
    if (scope && scope.interaction === 'batch' && body?.resourceType === 'Bundle' && body.type === 'transaction' && event.repo.transactional) {
      let agg = scope.bundleWrites;
      if (!agg) {
        const gathered = (agg = scope.bundleWrites = { what: [], lifecycle: [], more: 0, patients: new Set<string>() });
        const repo = event.repo;
        repo.onBeforeCommit(async () => {
          const audit = restAuditEvent({
            tenant: repo.ctx.tenant,
            context: repo.ctx.access.context,
            ip: scope.ip,
            author: true,
            interaction: 'transaction',
            status: 200,
            what: gathered.what,
            lifecycle: gathered.lifecycle,
            moreEntities: gathered.more,
            patients: gathered.patients,
          });
          await repo.storeInternal(auditVersions([audit]));
          scope.writesAudited += 1;
          scope.trail.scheduleSeal();
        });
      }
      if (agg.what.length < MAX_ENTITIES) {
        agg.what.push(what);
        agg.lifecycle.push(LIFECYCLE[event.method]);
      } else agg.more += 1;
      addPatientsOf(event.after, agg.patients);
      addPatientsOf(event.before, agg.patients);
      return;
    }
    const patients = new Set<string>();
    addPatientsOf(event.after, patients);
    addPatientsOf(event.before, patients);
    const audit = restAuditEvent({
      tenant: event.repo.ctx.tenant,
      context: event.repo.ctx.access.context,
      ip: scope?.ip,
      author: true,
      interaction: event.method,
      status: event.method === 'create' ? 201 : 200,
      what: [what],
      patients,
    });
    await event.repo.storeInternal(auditVersions([audit]));
    if (scope) {
      scope.writesAudited += 1;
      scope.trail.scheduleSeal();
    }
  },
};

/** Resource entities named on one transaction's AuditEvent; beyond, a count (patients are all kept). */
const MAX_ENTITIES = 1000;
/** DICOM audit lifecycle (R4 AuditEvent.entity.lifecycle): creation, amendment, logical deletion. */
const LIFECYCLE = { create: '1', update: '3', patch: '3', delete: '14' } as const;

const PAST = { create: 'created', update: 'updated', patch: 'patched', delete: 'deleted' } as const;
