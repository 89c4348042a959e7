/**
 * Who is asking, as the access decision point (./policy.ts) and the audit trail see it. Built from
 * a verified access token (auth/index.ts `authenticate`) or, for the server's own work, by
 * `tenantAdminPolicy`. Every field comes from the server's own records at token issue time;
 * nothing here is taken from the request.
 */

/** Roles of people (issue 3): practitioners have one or more staff roles; patients and related persons have their own. */
export const STAFF_ROLES = ['clinician', 'supervisor', 'care-manager', 'front-desk', 'tenant-admin', 'privacy-officer'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];
export type Role = StaffRole | 'patient' | 'related-person';

export interface AccessContext {
  tenant: string;
  /** OAuth client the token was issued to (undefined for the server's own work). */
  clientId: string | undefined;
  /** Granted scopes, space-separated. */
  scope: string;
  /** Internal user id (app_user.id) for a person's token; undefined for system tokens. */
  userId?: string;
  /** The person's FHIR resource: 'Practitioner/x', 'Patient/y' or 'RelatedPerson/z'. */
  fhirUser?: string;
  roles?: Role[];
  /** SMART launch context: the patient (id only) a patient/ scope is confined to. */
  patient?: string;
  encounter?: string;
  /** Purpose of use (http://terminology.hl7.org/CodeSystem/v3-ActReason code), e.g. TREAT, ETREAT (break-glass). */
  purposeOfUse?: string;
  /**
   * Backend client tokens: the organization that receives what the client reads, from its
   * registration ('Organization/<id>'); recorded in AuditEvents, for consent checks by recipient.
   */
  organization?: string;
  /** The access token's own id (jti), for audit and revocation. */
  tokenId?: string;
  /** Refresh-token family / grant id, for revocation of everything issued from one authorization. */
  grantId?: string;
}
