import type { AuditEvent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import { DISCLOSURE_SUBTYPE, isDisclosure } from '../access/accounting.ts';
import type { AccessContext } from '../access/context.ts';
import { otherAuditEvent, patientEntity, resourceEntity } from './audit-event.ts';
import { AUDIT_SUBTYPE_SYSTEM, DCM, OBJECT_ROLE, OBJECT_TYPE } from './codes.ts';
import { ROUTING_CRITERIA_ROLE, disclosedResources, patientDetails } from './disclosure.ts';

/**
 * The disclosure record of a subscription notification that left for a recipient outside the
 * treating clinic (access/accounting.ts `isDisclosure` of the Subscription's stored principal):
 * the same shape as a REST disclosure (./README.md "Disclosures") — subtype `disclosure`, purpose
 * of use, the client and its registered organization as information recipient, one entity per
 * resource with its patients, one entity per patient — so `Patient/[id]/$disclosures` lists it.
 *
 * Type DICOM 110106 "Export" (DICOM PS3.15 A.5.3.7, EventActionCode R: data leaves the system for
 * a destination outside it), beside our subtype `subscription-notification` (no standard code
 * names a pushed notification). The Subscription is an entity with object-role 23 "Routing
 * Criteria" (it decided where the data went), which the accounting view keeps (./disclosure.ts).
 */
export const EXPORT_TYPE = { system: DCM, code: '110106', display: 'Export' } as const;
export const NOTIFICATION_SUBTYPE = { system: AUDIT_SUBTYPE_SYSTEM, code: 'subscription-notification', display: 'Subscription notification' } as const;

export interface NotificationDisclosure {
  tenant: string;
  /** The Subscription's stored principal (the recipient). */
  principal: AccessContext;
  subscriptionId: string;
  channel: 'rest-hook' | 'websocket';
  /** What the notification carried of each resource: the resource itself, or its id only. */
  content: 'id-only' | 'full-resource';
  /** The focus resources the recipient was sent (as its access let it see them). */
  resources: Resource[];
}

/**
 * The AuditEvent of one delivered notification, or undefined when it is no disclosure: an
 * internal subscriber, or a notification that carried no patient's data. An id-only payload
 * discloses that the record exists and its id, so it is accounted for as well, marked as such.
 */
export function notificationDisclosureEvent(n: NotificationDisclosure): AuditEvent | undefined {
  if (!isDisclosure(n.principal) || n.resources.length === 0) return undefined;
  const { resources, more } = disclosedResources({ resourceType: 'Bundle', type: 'collection', entry: n.resources.map((resource) => ({ resource })) });
  const patients = [...new Set(resources.flatMap((r) => r.patients))];
  if (patients.length === 0) return undefined;
  const sent = n.content === 'full-resource' ? 'sent in full' : 'sent as id only';
  const entity: AuditEventEntity[] = [
    {
      what: { reference: `Subscription/${n.subscriptionId}` },
      type: { system: OBJECT_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: ROUTING_CRITERIA_ROLE, display: 'Routing Criteria' },
      description: `${n.channel} notification, ${n.content} payload`,
    },
    ...resources.map((r) => ({ ...resourceEntity(r.reference), description: sent, ...(r.patients.length ? { detail: patientDetails(r.patients) } : {}) })),
  ];
  if (more) entity.push({ type: { system: OBJECT_TYPE, code: '2', display: 'System Object' }, description: `${more} more resources disclosed, not listed` });
  entity.push(...patients.map(patientEntity));
  return otherAuditEvent({
    tenant: n.tenant,
    context: n.principal,
    type: { ...EXPORT_TYPE },
    subtype: [{ ...NOTIFICATION_SUBTYPE }, { ...DISCLOSURE_SUBTYPE }],
    action: 'R',
    success: true,
    entity,
  });
}
