import type { Coding } from '@medplum/fhirtypes';

/**
 * The codes our AuditEvents carry (R4 AuditEvent, https://hl7.org/fhir/R4/auditevent.html).
 * Standard code systems where one has the concept; our own CodeSystem (AUDIT_SUBTYPE_SYSTEM,
 * documented in ./README.md) only where none does.
 */
export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const IHE_EVENT_TYPE = 'urn:ihe:event-type-code';
export const V3_ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
export const V3_PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
export const OBJECT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const SECURITY_SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
/** Our own: auth events no standard code names (second factor, token revoked, consent decision). */
export const AUDIT_SUBTYPE_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype';
/** Our own: the staff and person roles of server/src/access/context.ts. */
export const USER_ROLE_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/user-role';
/** Identifier system of OAuth client ids (agent.who.identifier for the client app). */
export const CLIENT_ID_SYSTEM = 'http://bh-fhir.org/fhir/sid/oauth-client-id';
/** Identifier system of internal user ids (app_user.id), for people without a FHIR resource. */
export const USER_ID_SYSTEM = 'http://bh-fhir.org/fhir/sid/user-id';
/** Identifier system of login names typed at a failed login where no user matched. */
export const USERNAME_SYSTEM = 'http://bh-fhir.org/fhir/sid/username';

export const REST_TYPE: Coding = { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'Restful Operation' };
/** DICOM CID 400 (Audit Event ID): 110114 User Authentication; 110113 Security Alert. */
export const USER_AUTHENTICATION: Coding = { system: DCM, code: '110114', display: 'User Authentication' };
export const SECURITY_ALERT: Coding = { system: DCM, code: '110113', display: 'Security Alert' };

/** http://hl7.org/fhir/R4/codesystem-restful-interaction.html; the AuditEvent.action each implies. */
export const INTERACTION_ACTION: Record<string, 'C' | 'R' | 'U' | 'D' | 'E'> = {
  read: 'R',
  vread: 'R',
  'search-type': 'E',
  'search-system': 'E',
  'search-compartment': 'E',
  create: 'C',
  update: 'U',
  patch: 'U',
  delete: 'D',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  batch: 'E',
  transaction: 'E',
  operation: 'E',
  capabilities: 'R',
};

/**
 * AuditEvent.outcome (http://hl7.org/fhir/R4/valueset-audit-event-outcome.html): 0 success,
 * 4 minor failure (the request was refused or wrong: 4xx), 8 serious failure (the server failed: 5xx).
 */
export function outcomeOf(status: number): '0' | '4' | '8' {
  if (status < 400) return '0';
  return status >= 500 ? '8' : '4';
}

/**
 * Auth events (server/src/audit/auth-events.ts) → type and subtype.
 * - login / logout: DICOM 110114 User Authentication with 110122 Login / 110123 Logout (DICOM
 *   PS3.16 CID 401, the codes R4 AuditEvent names in its "login" example).
 * - token issued / refreshed: IHE IUA "ITI-71 Get Access Token" (IHE ITI TF-2 3.71.5, audit
 *   event type urn:ihe:event-type-code), under 110114.
 * - lockout, user disabled / enabled / roles changed: DICOM 110113 Security Alert / 110137 User
 *   Security Attributes Changed.
 * - client registered / approved: 110113 Security Alert / 110129 Security Configuration.
 * - second factor, token revoked, consent decision: no standard code; ours.
 */
export function authCodes(action: string): { type: Coding; subtype: Coding[]; action: 'C' | 'R' | 'U' | 'D' | 'E' } {
  const own = (code: string, display: string): Coding => ({ system: AUDIT_SUBTYPE_SYSTEM, code, display });
  switch (action) {
    case 'login':
      return { type: USER_AUTHENTICATION, subtype: [{ system: DCM, code: '110122', display: 'Login' }], action: 'E' };
    case 'logout':
      return { type: USER_AUTHENTICATION, subtype: [{ system: DCM, code: '110123', display: 'Logout' }], action: 'E' };
    case 'second-factor':
      return { type: USER_AUTHENTICATION, subtype: [{ system: DCM, code: '110122', display: 'Login' }, own('second-factor', 'Second factor')], action: 'E' };
    case 'token-issued':
      return { type: USER_AUTHENTICATION, subtype: [{ system: IHE_EVENT_TYPE, code: 'ITI-71', display: 'Get Access Token' }, own('token-issued', 'Access token issued')], action: 'C' };
    case 'token-refreshed':
      return { type: USER_AUTHENTICATION, subtype: [{ system: IHE_EVENT_TYPE, code: 'ITI-71', display: 'Get Access Token' }, own('token-refreshed', 'Access token refreshed')], action: 'C' };
    case 'token-revoked':
      return { type: USER_AUTHENTICATION, subtype: [own('token-revoked', 'Token revoked')], action: 'D' };
    case 'consent':
      return { type: USER_AUTHENTICATION, subtype: [own('consent-decision', 'Authorization consent screen decision')], action: 'E' };
    case 'lockout':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110137', display: 'User Security Attributes Changed' }, own('lockout', 'Account locked')], action: 'U' };
    case 'client-registered':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110129', display: 'Security Configuration' }, own('client-registered', 'Client registered')], action: 'C' };
    case 'client-approved':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110129', display: 'Security Configuration' }, own('client-approved', 'Client approved')], action: 'U' };
    case 'user-created':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110137', display: 'User Security Attributes Changed' }, own('user-created', 'User created')], action: 'C' };
    case 'user-unlocked':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110137', display: 'User Security Attributes Changed' }, own('user-unlocked', 'Account unlocked')], action: 'U' };
    case 'mfa-reset':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110137', display: 'User Security Attributes Changed' }, own('mfa-reset', 'Second factor reset')], action: 'U' };
    case 'keys-rotated':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110129', display: 'Security Configuration' }, own('keys-rotated', 'Signing keys rotated')], action: 'U' };
    case 'tenant-created':
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110129', display: 'Security Configuration' }, own('tenant-created', 'Tenant created')], action: 'C' };
    case 'user-disabled':
    case 'user-enabled':
    case 'user-roles-changed': {
      const display = { 'user-disabled': 'User account disabled', 'user-enabled': 'User account enabled', 'user-roles-changed': 'User roles changed' }[action];
      return { type: SECURITY_ALERT, subtype: [{ system: DCM, code: '110137', display: 'User Security Attributes Changed' }, own(action, display)], action: 'U' };
    }
    default:
      return { type: USER_AUTHENTICATION, subtype: [own(action, action)], action: 'E' };
  }
}
