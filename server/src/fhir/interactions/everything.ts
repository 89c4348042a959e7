import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { patientCompartmentParams } from '../../kernel/compartment.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * Patient/[id]/$everything (http://hl7.org/fhir/R4/patient-operation-everything.html): the patient
 * and every resource in its compartment that the caller may read, over the reference index with
 * the caller's access predicate composed in (store/repository.ts `compartmentPage`). The Patient
 * itself is read through the same check as a read: 404 when outside the caller's reach. Supports
 * _since, _type and _count; returns a searchset Bundle.
 *
 * Paged, so that one request never loads a whole record: `_count` resources a page (default and
 * at most the search page size limit, 1000), the Patient first on the first page, then the
 * compartment in (type, id) order with a `next` link carrying an opaque `_cursor` (the last
 * type and id served: keyset paging, so a page stays put while resources are added). `total` is
 * given when everything fits on the first page; counting a whole record would cost what paging
 * saves.
 */
const CURSOR = '_cursor';

export const patientEverything: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  const one = (n: string): string | undefined => [req.query?.[n]].flat().at(-1);
  const typeFilter = one('_type')?.split(',').map((t) => t.trim()).filter(Boolean);
  const since = one('_since');
  if (since && !/^\d{4}-\d{2}-\d{2}T/.test(since)) fail('invalid', `Invalid _since '${since}': expected an instant`, '_since');
  const count = pageSize(one('_count'), r.ctx.maxCount);
  const cursor = one(CURSOR);
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const patient = await r.readResource('Patient', id);

  const pairs: [string, string][] = [];
  for (const [type, params] of patientCompartmentParams()) {
    if (typeFilter && !typeFilter.includes(type)) continue;
    // AuditEvents about the patient are the access log, not the patient's record (server/src/audit).
    if (type === 'AuditEvent') continue;
    // Denied types are left out; the others carry the caller's access in the one statement.
    if (!r.ctx.access.can(type, 's')) continue;
    for (const p of params) pairs.push([type, p]);
  }
  const entry: BundleEntry[] = [];
  const firstPage = after === undefined;
  if (firstPage && (!typeFilter || typeFilter.includes('Patient'))) {
    entry.push({ fullUrl: `${r.ctx.fhirBase}/Patient/${id}`, resource: patient, search: { mode: 'match' } });
  }
  // A one-entry first page holds the Patient only: the compartment starts on the next page.
  const room = count - entry.length;
  const after0 = after === null ? undefined : after;
  const { resources, more } =
    room > 0 ? await r.compartmentPage('Patient', id, pairs, { since, count: room, after: after0 }) : { resources: [], more: pairs.length > 0 };
  for (const res of resources) {
    entry.push({ fullUrl: `${r.ctx.fhirBase}/${res.resourceType}/${res.id}`, resource: res as Resource, search: { mode: 'match' } });
  }
  const last = resources.at(-1);
  const base = `${r.ctx.fhirBase}/Patient/${encodeURIComponent(id)}/$everything`;
  const keep: [string, string][] = [];
  if (one('_type') !== undefined) keep.push(['_type', one('_type') as string]);
  if (since) keep.push(['_since', since]);
  if (one('_count') !== undefined) keep.push(['_count', String(count)]);
  const url = (c?: string): string => {
    const qs = new URLSearchParams(c === undefined ? keep : [...keep, [CURSOR, c]]).toString();
    return qs ? `${base}?${qs}` : base;
  };
  const link: BundleLink[] = [{ relation: 'self', url: url(cursor) }];
  if (more) link.push({ relation: 'next', url: url(encodeCursor(last ? [last.resourceType, last.id as string] : (after ?? null))) });
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', link, entry };
  if (firstPage && !more) bundle.total = entry.length;
  return [allOk, bundle];
};

function pageSize(raw: string | undefined, max: number): number {
  if (raw === undefined) return max;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) fail('invalid', `Invalid _count '${raw}': expected a positive integer`, '_count');
  return Math.min(Number(raw), max);
}

/** The position after which the next page starts: a (type, id), or null for "the start, Patient served". */
function encodeCursor(after: [string, string] | null): string {
  return Buffer.from(JSON.stringify({ a: after })).toString('base64url');
}

function decodeCursor(raw: string): [string, string] | null {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    c = undefined;
  }
  const a = (c as { a?: unknown } | undefined)?.a;
  if (a === null) return null;
  if (Array.isArray(a) && a.length === 2 && a.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 128 && !v.includes('\u0000'))) {
    return a as [string, string];
  }
  return fail('invalid', 'Invalid paging cursor: the link may be from a different request', CURSOR);
}
