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
      what: [`${event.resourceType}/${event.id}${version ? `/_history/${version}` : ''}`],
      patients,
    });
    await event.repo.storeInternal(auditVersions([audit]));
    if (scope) {
      scope.writesAudited += 1;
      scope.trail.scheduleSeal();
    }
  },
};

const PAST = { create: 'created', update: 'updated', patch: 'patched', delete: 'deleted' } as const;
