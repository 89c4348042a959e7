import { fail } from '../kernel/outcome.ts';
import { DENY, type ReadConstraint } from './constraint.ts';
import type { AccessContext } from './context.ts';
import { isExternal } from './disclosure.ts';
import { EMERGENCY_TREATMENT } from './labels.ts';
import type { AccessPolicy } from './policy.ts';
import { AUDIT_EVENT } from './roles.ts';

/**
 * Accounting of disclosures (HIPAA 45 CFR 164.528; 42 CFR 2.51(c) for medical emergencies): which
 * accesses are disclosures the accounting lists, and who may ask for a patient's accounting
 * (`Patient/[id]/$disclosures`, fhir/interactions/disclosures.ts).
 *
 * A disclosure is what leaves the treating clinic: data read by an external principal
 * (./disclosure.ts `isExternal`: a backend client registered with its recipient organization),
 * and data read under break-glass (ETREAT), which 42 CFR 2.51(c) requires documenting although the
 * clinician is the clinic's own. The patient's own reads and treatment by the clinic's clinicians
 * are not disclosures (164.528(a)(1)(i) and (ii) exempt treatment, payment and health care
 * operations, and disclosures to the individual). Every external recipient is listed, whatever
 * its purpose: also payment or operations disclosures, which 164.528(a)(1)(i) exempts but HITECH
 * §13405(c) (42 U.S.C. 17935(c)) brings into the accounting for electronic health records (its
 * implementing rule, proposed in 2011, is not final), and which a patient asking "who got my
 * record" wants to see.
 */
export function isDisclosure(context: AccessContext): boolean {
  return isExternal(context) || context.purposeOfUse === EMERGENCY_TREATMENT;
}

/**
 * The AuditEvent subtype that marks a disclosure, in our CodeSystem of audit subtypes
 * (audit/codes.ts AUDIT_SUBTYPE_SYSTEM; the same URL, kept here because access sits below audit).
 * AuditEvent `subtype` is indexed, so `AuditEvent?subtype=<system>|disclosure&patient=…` is cheap.
 */
export const DISCLOSURE_SUBTYPE = {
  system: 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype',
  code: 'disclosure',
  display: 'Disclosure outside the treating clinic',
} as const;

/** The staff role that reviews the audit trail and answers accounting requests. */
export const PRIVACY_OFFICER = 'privacy-officer';

/** Whether the caller may have `patientId`'s accounting: that patient, or a privacy officer. */
export function mayAccount(policy: AccessPolicy, patientId: string): boolean {
  const c = policy.context;
  const roles = (c.roles ?? []) as string[];
  if (roles.includes(PRIVACY_OFFICER) && policy.can(AUDIT_EVENT, 's')) return true;
  // The patient themself: their own login (fhirUser Patient/id) or a patient/ launch of their own.
  if (!roles.includes('patient')) return false;
  const own = /(?:^|\/)Patient\/([^/]+)$/.exec(c.fhirUser ?? '')?.[1];
  return own === patientId || (own === undefined && c.patient === patientId);
}

/**
 * The policy under which a permitted caller reads `patientId`'s accounting: the AuditEvents marked
 * as disclosures that name the patient, nothing else, composed into the search's SQL like every
 * other decision. The caller's identity stays (the audit trail names who asked). Throws 403 for a
 * caller who may not account for the patient; callers check first that they may see the patient
 * at all (404 otherwise, as for a read).
 */
export function accountingPolicy(policy: AccessPolicy, patientId: string): AccessPolicy {
  if (!mayAccount(policy, patientId)) fail('forbidden', 'The accounting of disclosures is given to the patient and to privacy officers only');
  const only: ReadConstraint = {
    kind: 'match',
    any: [
      [
        ['patient', `Patient/${patientId}`],
        ['subtype', `${DISCLOSURE_SUBTYPE.system}|${DISCLOSURE_SUBTYPE.code}`],
      ],
    ],
  };
  const decide = (type: string, p: string): ReadConstraint => (type === AUDIT_EVENT && (p === 'r' || p === 's') ? only : DENY);
  return {
    context: policy.context,
    tenant: policy.tenant,
    clientId: policy.clientId,
    scope: policy.scope,
    until: policy.until,
    readConstraint: decide,
    can: (type, p) => decide(type, p).kind !== 'deny',
    assertCan(type, p) {
      if (decide(type, p).kind === 'deny') fail('forbidden', `The accounting of disclosures reads AuditEvent only, not ${type}`);
    },
  };
}
