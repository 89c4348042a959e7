import type { AuditEvent, Coding, Reference } from '@medplum/fhirtypes';
import { dateRange } from '../store/date-range.ts';
import { type IndexRows, emptyRows } from '../store/index-rows.ts';
import { normalizeString } from '../store/indexer.ts';

/**
 * Search-index rows of an AuditEvent, built directly rather than by evaluating FHIRPath (the
 * general indexer, store/indexer.ts, costs ~0.5 ms per AuditEvent; this ~10 µs, and there is one
 * AuditEvent per request). Only the parameters the audit review needs are indexed (below); the
 * rows are those the general indexer makes for them (duplicates dropped), which audit-index.test.ts
 * checks. Index rows are most of an AuditEvent's write cost, so only what the review searches
 * need: patient, agent (reference and :identifier), date, type, subtype, entity, outcome. Left out:
 * action (follows from subtype), address, agent-role, altid, site (the tenant), entity-role/-type,
 * names, policy, source. NOTE: a search by one of those finds nothing (the search engine does not
 * yet know which parameters a type leaves unindexed); README.md says so.
 * R4 AuditEvent search parameters: https://hl7.org/fhir/R4/auditevent.html#search
 */
export const AUDIT_SEARCH_PARAMS = ['agent', 'date', 'entity', 'outcome', 'patient', 'subtype', 'type'] as const;

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export function auditIndexRows(e: AuditEvent): IndexRows {
  const rows = emptyRows();
  const token = (param: string, system: string | undefined | null, code: string | undefined | null, text?: string | null) => {
    if (system == null && code == null && !text) return;
    rows.token.push({ param, grp: null, system: system ?? null, code: code ?? null, text: text ? normalizeString(text) : null });
  };
  const coding = (param: string, c: Coding | undefined) => c && token(param, c.system, c.code, c.display);
  // Patient/x and Patient/x/_history/1 index alike: one row is enough.
  const local_ = (param: string, targetType: string, targetId: string) => {
    if (rows.reference.some((r) => r.param === param && r.targetType === targetType && r.targetId === targetId)) return;
    rows.reference.push({ param, grp: null, targetType, targetId, url: null });
  };
  const reference = (param: string, r: Reference | undefined, patientToo: boolean) => {
    if (!r) return;
    if (r.identifier) token(`${param}:identifier`, r.identifier.system, r.identifier.value);
    const ref = r.reference;
    if (typeof ref !== 'string' || ref.startsWith('#')) return;
    const local = LOCAL_REF.exec(ref);
    if (local) {
      local_(param, local[1], local[2]);
      // patient: agent.who.where(resolve() is Patient) | entity.what.where(resolve() is Patient)
      if (patientToo && local[1] === 'Patient') local_('patient', 'Patient', local[2]);
    } else {
      rows.reference.push({ param, grp: null, targetType: null, targetId: null, url: ref });
    }
  };

  if (e.outcome) token('outcome', null, e.outcome);
  coding('type', e.type);
  for (const c of e.subtype ?? []) coding('subtype', c);
  const recorded = e.recorded ? dateRange(e.recorded) : undefined;
  if (recorded) rows.date.push({ param: 'date', grp: null, low: recorded.low, high: recorded.high });
  for (const a of e.agent ?? []) {
    reference('agent', a.who, true);
  }
  for (const en of e.entity ?? []) {
    reference('entity', en.what, true);
  }
  return rows;
}
