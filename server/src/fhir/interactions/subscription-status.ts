import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { statusParameters, subscriptionRows } from '../../subscriptions/api.ts';
import { operationInput } from './subscription-params.ts';

/**
 * Subscription/$status and Subscription/[id]/$status (GET or POST), Backport IG 1.1
 * OperationDefinition backport-subscription-status
 * (https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-status.html):
 * a Bundle (searchset) of status Parameters, type `query-status`, one per Subscription the caller
 * may read. Type level: filtered by `id` and `status` (each repeatable, OR'd); the Subscriptions
 * are found by a search through the caller's repository, so access applies as for any search.
 */
export const subscriptionStatus: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  let subs: Subscription[];
  if (id) {
    subs = [await r.readResource<Subscription>('Subscription', id)];
  } else {
    const input = operationInput(req, '$status', ['id', 'status']);
    const query: [string, string][] = [['_count', String(r.ctx.maxCount)]];
    if (input.get('id')) query.push(['_id', input.get('id')!.join(',')]);
    if (input.get('status')) query.push(['status', input.get('status')!.join(',')]);
    const found = await r.searchParams('Subscription', query);
    subs = (found.entry ?? []).map((e) => e.resource as Subscription);
  }
  const rows = await subscriptionRows(r, subs.map((s) => s.id as string));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 0,
    entry: [],
  };
  for (const s of subs) {
    const row = rows.get(s.id as string);
    if (!row) continue;
    const status = statusParameters(r.ctx.fhirBase, row, 'query-status', { eventsSinceStart: row.eventsSinceStart, error: row.status === 'error' ? row.error : undefined });
    bundle.entry?.push({ fullUrl: `urn:uuid:${status.id}`, resource: status, search: { mode: 'match' } });
  }
  bundle.total = bundle.entry?.length;
  return [allOk, bundle];
};
