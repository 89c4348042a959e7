import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { AuditEvent, Bundle, BundleLink, Parameters } from '@medplum/fhirtypes';
import { DISCLOSURE_SUBTYPE, accountingPolicy } from '../../access/accounting.ts';
import { disclosureView } from '../../audit/disclosure.ts';
import { fail } from '../../kernel/outcome.ts';
import { dateRange } from '../../store/date-range.ts';
import type { Repository } from '../../store/repository.ts';

/**
 * Patient/[id]/$disclosures (GET with query parameters, or POST with a Parameters body): the
 * patient's accounting of disclosures (HIPAA 45 CFR 164.528; 42 CFR 2.51(c) for break-glass), as
 * documented by the OperationDefinition in ./disclosures-operation.json.
 *
 * - `start`, `end`: FHIR dates (YYYY-MM-DD) or dateTimes; the period is [start, end] at the
 *   precision given (end=2026-03-31 includes that day). Without `start`: six years before `end`
 *   (164.528(a) and (b)(1): "in the six years prior to the date on which the accounting is
 *   requested"); without `end`: now.
 * - `_count` (default 50, at most the server's page size) and `_cursor` (from a `next` link).
 *
 * Who: the patient and privacy officers (access/accounting.ts). The Patient is read first under
 * the caller's own policy: 404 for a patient the caller cannot see, 403 for a caller who cannot
 * read Patient; then 403 for anyone else. The AuditEvents are searched under a policy that reaches
 * exactly this patient's disclosure events, composed into the SQL.
 *
 * Answer: a `searchset` Bundle (not `collection`): it is a paged search result over AuditEvent,
 * with `total`, `self`/`next`/`previous` links and `search.mode` match. Newest first. Each entry
 * is the disclosure's AuditEvent as audit/disclosure.ts `disclosureView` shows it to this patient.
 */
const NAMES = ['start', 'end', '_count', '_cursor'] as const;
type Name = (typeof NAMES)[number];
const DEFAULT_COUNT = 50;
/** 45 CFR 164.528(a)(1) and (b)(1): the accounting covers the six years before the request. */
const ACCOUNTING_YEARS = 6;

function input(req: FhirRequest): Partial<Record<Name, string>> {
  const out: Partial<Record<Name, string>> = {};
  const set = (name: string, value: unknown) => {
    if (!(NAMES as readonly string[]).includes(name)) fail('invalid', `Unknown parameter '${name}' for $disclosures`, name);
    if (typeof value !== 'string' || !value) fail('invalid', `Parameter '${name}' needs a value`, name);
    if (out[name as Name] !== undefined) fail('invalid', `Parameter '${name}' is repeated`, name);
    out[name as Name] = value;
  };
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (k.startsWith('_') && k !== '_count' && k !== '_cursor') continue; // _format and friends: the HTTP layer's
    for (const x of [v].flat()) set(k, x);
  }
  if (req.method === 'POST' && req.body && typeof req.body === 'object' && Object.keys(req.body).length) {
    const body = req.body as Parameters;
    if (body.resourceType !== 'Parameters') fail('invalid', 'The body of POST $disclosures must be a Parameters resource', 'resourceType');
    for (const p of body.parameter ?? []) set(p.name, p.valueDate ?? p.valueDateTime ?? p.valueString ?? p.valueInteger?.toString());
  }
  return out;
}

/** A FHIR date or dateTime, checked to the day (2026-02-30 is no date). */
function instant(value: string, name: string, edge: 'low' | 'high'): string {
  const range = dateRange(value);
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  const real = !day || new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]))).getUTCDate() === Number(day[3]);
  if (!range || !real) fail('invalid', `Invalid ${name} '${value}': expected a date (YYYY-MM-DD) or a dateTime`, name);
  return range[edge];
}

export const patientDisclosures: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  const p = input(req);
  const to = p.end ? instant(p.end, 'end', 'high') : new Date().toISOString();
  const sixYears = new Date(to);
  sixYears.setUTCFullYear(sixYears.getUTCFullYear() - ACCOUNTING_YEARS);
  const from = p.start ? instant(p.start, 'start', 'low') : sixYears.toISOString();
  if (Date.parse(from) >= Date.parse(to)) fail('invalid', 'start must be before end', 'start');
  if (p._count !== undefined && (!/^\d{1,9}$/.test(p._count) || Number(p._count) < 1)) fail('invalid', `Invalid _count '${p._count}': expected a positive integer`, '_count');
  const count = Math.min(Number(p._count ?? DEFAULT_COUNT), r.ctx.maxCount);

  await r.readResource('Patient', id); // 404 / 403 exactly as a read of the patient.
  const reader = r.withPolicy(accountingPolicy(r.ctx.access, id));
  const params: [string, string][] = [
    ['patient', `Patient/${id}`],
    ['subtype', `${DISCLOSURE_SUBTYPE.system}|${DISCLOSURE_SUBTYPE.code}`],
    ['date', `ge${from}`],
    ['date', `lt${to}`],
    ['_sort', '-date'],
    ['_count', String(count)],
    ['_total', 'accurate'],
  ];
  if (p._cursor) params.push(['_cursor', p._cursor]);
  const found = await reader.searchParams('AuditEvent', params);

  // The search's links point at AuditEvent?…; the caller pages through this operation instead,
  // with the period pinned (a default period would otherwise move between pages).
  const base = `${r.ctx.fhirBase}/Patient/${encodeURIComponent(id)}/$disclosures`;
  const link: BundleLink[] = [];
  for (const l of found.link ?? []) {
    const cursor = new URL(l.url as string).searchParams.get('_cursor');
    const qs = new URLSearchParams([['start', from], ['end', to], ['_count', String(count)], ...(cursor ? [['_cursor', cursor]] : [])]);
    link.push({ relation: l.relation, url: `${base}?${qs.toString()}` });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: found.total,
    link,
    entry: (found.entry ?? [])
      .filter((e) => e.resource?.resourceType === 'AuditEvent')
      .map((e) => ({ fullUrl: e.fullUrl, resource: disclosureView(e.resource as AuditEvent, id), search: { mode: 'match' as const } })),
  };
  return [allOk, bundle];
};
