import type { Database, Queryable } from '../db/database.ts';
import type { Role } from '../access/context.ts';
import { otherAuditEvent } from './audit-event.ts';
import { insertAuditEvents } from './audit-store.ts';
import { auditTrailFor, scheduleSealEverywhere } from './audit-trail.ts';
import { DCM, OBJECT_ROLE, OBJECT_TYPE, SECURITY_ALERT } from './codes.ts';

/**
 * Break-glass started (auth/break-glass): DICOM 110113 Security Alert / 110127 Emergency Override
 * Started (DICOM PS3.16 CID 401), purpose of use ETREAT, the person as requestor, and the reason
 * they gave with the window's end as entity details. Unlike other auth events the detail is the
 * person's own words, which may name a patient: the audit trail is where a reviewer must read it
 * (42 CFR §2.51 asks for the nature of the emergency to be recorded).
 */
export interface BreakGlassEvent {
  tenant: string;
  userId: string;
  fhirUser: string;
  roles: Role[];
  ip?: string;
  reason: string;
  until: Date;
  /** The Communication that told the supervisors, when one was sent. */
  notice?: string;
}

const EMERGENCY_OVERRIDE_STARTED = { system: DCM, code: '110127', display: 'Emergency Override Started' };

export async function auditBreakGlass(db: Queryable, e: BreakGlassEvent): Promise<void> {
  const audit = otherAuditEvent({
    tenant: e.tenant,
    context: { tenant: e.tenant, clientId: undefined, scope: '', userId: e.userId, fhirUser: e.fhirUser, roles: e.roles, purposeOfUse: 'ETREAT' },
    ip: e.ip,
    type: SECURITY_ALERT,
    subtype: [EMERGENCY_OVERRIDE_STARTED],
    action: 'E',
    success: true,
    entity: [
      {
        ...(e.notice ? { what: { reference: e.notice } } : {}),
        type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
        detail: [
          { type: 'reason', valueString: e.reason },
          { type: 'until', valueString: e.until.toISOString() },
        ],
      },
    ],
  });
  await insertAuditEvents(db, e.tenant, [audit]);
  if (typeof (db as Partial<Database>).transaction === 'function') auditTrailFor(db as Database).scheduleSeal();
  else scheduleSealEverywhere();
}
