import type { ReadConstraint } from './constraint.ts';
import { allOf } from './constraint.ts';
import type { Permission } from './scopes.ts';

/**
 * The platform's published instruments (questionnaires/*.json, installed into every tenant by
 * clinical/instruments) live under this canonical base. Their scoring, severity bands and risk
 * findings are the platform's; a tenant principal who could rewrite them could change totals or
 * suppress a suicide-risk flag. So every token (tenant admin, system client, clinician) may read
 * them but never create, update or delete a Questionnaire whose url is under this base; a tenant
 * adds its own instruments under its own canonical URLs. Only the server's own install
 * (tenantAdminPolicy, never issued to a token) writes them. The scoring engine, for its part,
 * resolves these URLs to the shipped definitions, never to stored copies (clinical/scoring/resolve.ts).
 */
export const PLATFORM_QUESTIONNAIRE_BASE = 'http://bh-fhir.org/fhir/Questionnaire/';

/** True when `url` names one of the platform's instruments (shipped or reserved for the platform). */
export function isPlatformQuestionnaireUrl(url: string | undefined): boolean {
  return Boolean(url?.startsWith(PLATFORM_QUESTIONNAIRE_BASE));
}

const NOT_PLATFORM: ReadConstraint = {
  kind: 'not',
  of: { kind: 'match', any: [[['url:below', PLATFORM_QUESTIONNAIRE_BASE]]] },
  refusal: `Questionnaires under ${PLATFORM_QUESTIONNAIRE_BASE} are the platform's published instruments and read-only; add your own instruments under your own canonical URL`,
  expression: 'Questionnaire.url',
};

const WRITES = new Set<Permission>(['c', 'u', 'd']);

/** A token's decision for `type`/`p`, with the platform's instruments taken out of every write. */
export function withoutPlatformWrites(type: string, p: Permission, c: ReadConstraint): ReadConstraint {
  if (type !== 'Questionnaire' || !WRITES.has(p) || c.kind === 'deny') return c;
  return allOf([c, NOT_PLATFORM]);
}
