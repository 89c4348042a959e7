import type { AuditEventEntity, Coding, Resource } from '@medplum/fhirtypes';
import { RESTRICTED, VERY_RESTRICTED } from '../../access/labels.ts';
import { compartmentTypes } from '../../access/roles.ts';
import { otherAuditEvent, patientEntity, resourceEntity } from '../../audit/audit-event.ts';
import { auditStatement } from '../../audit/audit-store.ts';
import { auditRequestScope } from '../../audit/audit-trail.ts';
import { AUDIT_SUBTYPE_SYSTEM, SECURITY_ALERT } from '../../audit/codes.ts';
import { addPatientsOf } from '../../audit/patients.ts';
import { fail } from '../../kernel/outcome.ts';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';
import type { Repository } from '../../store/repository.ts';
import { KEPT_LABELS, PART2_LABELS, REMOVAL_REASON_URL, sameLabel } from './codes.ts';
import { sudByContent } from './content.ts';
import { forgetRead, inPart2Program, noteProgramWrite, programsPrefetch } from './context.ts';

/**
 * 42 CFR Part 2 segmentation by rule (README.md), in the write's transaction:
 *  - a record in the context of a Part 2 program, or whose code says SUD, gets the Part 2 labels
 *    (merged into meta.security; V stands in for R);
 *  - labels a version had are kept when a write leaves them out, unless a supervisor removes them
 *    with a reason (meta.extension REMOVAL_REASON_URL), which is audited; a reason from anyone
 *    else is refused (403), and labels the rules still call for cannot be removed (422).
 * The Patient resource itself is never labelled: it is the demographics the front desk schedules by.
 */
const REMOVERS = new Set(['supervisor']);
/** Records the context rule reads (context.ts caches them per transaction). */
const PROGRAM_TYPES = new Set(['Organization', 'EpisodeOfCare', 'Encounter']);

interface Removal {
  reason: string;
  labels: Coding[];
}
const removals = new WeakMap<Repository, Map<string, Removal>>();

export const part2Hook: WriteHook = {
  name: 'part2-labels',
  types: '*',

  // The context rule's first read (context.ts mayHavePrograms), for the types whose records it judges.
  prefetch(repo, resourceType) {
    return resourceType !== 'Patient' && compartmentTypes().has(resourceType) ? programsPrefetch(repo) : undefined;
  },

  async beforeWrite(event: WriteEvent) {
    if (PROGRAM_TYPES.has(event.resourceType)) {
      forgetRead(event.repo, `${event.resourceType}/${event.id}`);
      noteProgramWrite(event.repo, event.after);
    }
    const after = event.after;
    if (!after || event.method === 'delete' || after.resourceType === 'Patient' || !compartmentTypes().has(after.resourceType)) return undefined;
    const reason = removalReason(after);
    const given = after.meta?.security ?? [];
    const had = (event.before?.meta?.security ?? []).filter((l) => KEPT_LABELS.some((k) => sameLabel(k, l)));
    const dropped = had.filter((l) => !given.some((g) => sameLabel(g, l)));
    const byRule = sudByContent(after) || (await inPart2Program(event.repo, after));

    let security = [...given];
    if (reason === undefined) {
      security.push(...dropped);
    } else {
      checkRemoval(event, dropped, byRule);
      let byId = removals.get(event.repo);
      if (!byId) removals.set(event.repo, (byId = new Map()));
      byId.set(`${event.resourceType}/${event.id}`, { reason, labels: dropped });
    }
    if (byRule) {
      // One confidentiality code: V is stronger than R (v3-Confidentiality is ordered).
      const veryRestricted = security.some((l) => sameLabel(l, VERY_RESTRICTED));
      for (const label of PART2_LABELS) {
        if (veryRestricted && sameLabel(label, RESTRICTED)) continue;
        if (!security.some((l) => sameLabel(l, label))) security.push({ ...label });
      }
    }
    security = security.filter((l, i) => security.findIndex((m) => sameLabel(m, l)) === i);
    const unchanged = reason === undefined && security.length === given.length;
    if (unchanged) return undefined;
    const { extension, ...meta } = after.meta ?? {};
    const rest = (extension ?? []).filter((e) => e.url !== REMOVAL_REASON_URL);
    return { ...after, meta: { ...meta, ...(rest.length ? { extension: rest } : {}), ...(security.length ? { security } : {}) } } as Resource;
  },

  async afterWrite(event: WriteEvent) {
    const key = `${event.resourceType}/${event.id}`;
    const removal = removals.get(event.repo)?.get(key);
    if (!removal || !event.after) return;
    removals.get(event.repo)?.delete(key);
    await event.repo.deferStatement(auditStatement(event.repo.ctx.tenant, [removalAudit(event, removal)]));
  },
};

function removalReason(r: Resource): string | undefined {
  const ext = r.meta?.extension?.find((e) => e.url === REMOVAL_REASON_URL);
  if (!ext) return undefined;
  const text = ext.valueString?.trim();
  if (!text) fail('invalid', 'A security label removal needs its reason as valueString', 'Resource.meta.extension');
  return text;
}

function checkRemoval(event: WriteEvent, dropped: Coding[], byRule: boolean): void {
  const ctx = event.repo.ctx.access.context;
  const person = Boolean(ctx.userId || ctx.fhirUser);
  if (!person || !(ctx.roles ?? []).some((r) => REMOVERS.has(r))) {
    fail('forbidden', 'Only a supervisor removes security labels', 'Resource.meta.security');
  }
  if (dropped.length === 0) {
    fail('invalid', 'A removal reason was given but meta.security leaves out none of the labels this version has', 'Resource.meta.security');
  }
  if (byRule && dropped.some((l) => PART2_LABELS.some((p) => sameLabel(p, l)))) {
    fail(
      'unprocessable',
      'The 42 CFR Part 2 labels are required by rule here (a Part 2 program context or a SUD code): correct the program, the encounter or the code first',
      'Resource.meta.security'
    );
  }
}

/** DICOM 110113 Security Alert, subtype ours `security-label-removed`: what, which labels, why, who. */
function removalAudit(event: WriteEvent, removal: Removal) {
  const after = event.after as Resource;
  const entity: AuditEventEntity[] = [
    {
      ...resourceEntity(`${event.resourceType}/${event.id}/_history/${after.meta?.versionId}`),
      securityLabel: removal.labels,
      detail: [{ type: 'reason', valueString: removal.reason }],
    },
  ];
  const patients = new Set<string>();
  addPatientsOf(after, patients);
  for (const p of patients) entity.push(patientEntity(p));
  return otherAuditEvent({
    tenant: event.repo.ctx.tenant,
    context: event.repo.ctx.access.context,
    ip: auditRequestScope.getStore()?.ip,
    author: true,
    type: SECURITY_ALERT,
    subtype: [{ system: AUDIT_SUBTYPE_SYSTEM, code: 'security-label-removed', display: 'Security label removed' }],
    action: 'U',
    success: true,
    entity,
  });
}
