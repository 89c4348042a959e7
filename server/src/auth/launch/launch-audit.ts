import type { AuditEventEntity } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../../access/policy.ts';
import { otherAuditEvent, patientEntity, resourceEntity } from '../../audit/audit-event.ts';
import { insertAuditEvents } from '../../audit/audit-store.ts';
import { auditTrailFor } from '../../audit/audit-trail.ts';
import { AUDIT_SUBTYPE_SYSTEM, CLIENT_ID_SYSTEM, DCM, OBJECT_ROLE, OBJECT_TYPE } from '../../audit/codes.ts';
import type { Database } from '../../db/database.ts';

/**
 * The AuditEvent of an EHR launch decision (POST /auth/launch), success or refusal: DICOM 110100
 * "Application Activity" / 110120 "Application Start" (the EHR starts an app for a patient), plus
 * our subtype `ehr-launch`. Agents: the practitioner and the launcher client (audit-event.ts
 * `agents`); entities: the patient (so `AuditEvent?patient=` finds it), the encounter, and the
 * app launched (its client id). Stored at once, like the auth events, and sealed into the chain.
 * The launch id is not recorded: it is a short-lived handle, not an identity.
 */
export const APPLICATION_ACTIVITY = { system: DCM, code: '110100', display: 'Application Activity' };
export const APPLICATION_START = { system: DCM, code: '110120', display: 'Application Start' };
export const EHR_LAUNCH = { system: AUDIT_SUBTYPE_SYSTEM, code: 'ehr-launch', display: 'EHR launch' };

export interface LaunchAuditInput {
  policy: AccessPolicy;
  ip: string | undefined;
  app?: string;
  patient?: string;
  encounter?: string;
  /** HTTP status of the answer; a refusal carries `refusal` (no PHI). */
  status: number;
  refusal?: string;
}

export async function auditEhrLaunch(db: Database, input: LaunchAuditInput): Promise<void> {
  const entity: AuditEventEntity[] = [];
  if (input.patient) entity.push(patientEntity(input.patient));
  if (input.encounter) entity.push(resourceEntity(`Encounter/${input.encounter}`));
  if (input.app) {
    entity.push({
      what: { identifier: { system: CLIENT_ID_SYSTEM, value: input.app } },
      type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
      description: 'SMART app launched',
    });
  }
  const success = input.status < 400;
  const event = otherAuditEvent({
    tenant: input.policy.tenant,
    context: input.policy.context,
    ip: input.ip,
    type: APPLICATION_ACTIVITY,
    subtype: [APPLICATION_START, EHR_LAUNCH],
    action: 'E',
    success,
    outcomeDesc: success ? undefined : `HTTP ${input.status}${input.refusal ? `: ${input.refusal}` : ''}`,
    entity,
  });
  await insertAuditEvents(db, input.policy.tenant, [event]);
  auditTrailFor(db).scheduleSeal();
}
