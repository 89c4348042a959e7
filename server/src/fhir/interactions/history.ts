import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { historyBundle } from '../../store/history.ts';
import type { Repository } from '../../store/repository.ts';
import { fail } from '../../kernel/outcome.ts';
import { assertResourceType } from './search.ts';

/**
 * history-instance, history-type and history-system (https://hl7.org/fhir/R4/http.html#history)
 * with _since, _at, _count and cursor paging.
 */
function one(req: FhirRequest, name: string): string | undefined {
  const v = req.query?.[name];
  return Array.isArray(v) ? v.at(-1) : v;
}

function count(req: FhirRequest): number | undefined {
  const c = one(req, '_count');
  if (c === undefined) return undefined;
  if (!/^\d+$/.test(c)) fail('invalid', `Invalid _count '${c}': expected a non-negative integer`, '_count');
  return Number(c);
}

async function history(req: FhirRequest, repo: Repository, type?: string, id?: string): Promise<FhirResponse> {
  const ctx = repo.ctx;
  if (type) {
    assertResourceType(type);
    ctx.access.assertCan(type, 'r');
  }
  if (id) await repo.readResource(type as string, id).catch((err) => {
    // A deleted resource still has a history.
    if (err?.outcome?.id !== 'gone') throw err;
  });
  // Which versions the caller may see is decided in the history query itself (store/history.ts).
  const offset = one(req, '_offset');
  const page = await repo.history({
    type,
    id,
    since: one(req, '_since'),
    before: one(req, '_at'),
    count: count(req),
    offset: offset ? Number(offset) : undefined,
    cursor: one(req, '_cursor'),
  });
  const self = new URL(`${ctx.fhirBase}/${req.url.split('?')[0].replace(/^\//, '')}`);
  for (const [k, v] of Object.entries(req.query ?? {})) for (const x of [v].flat()) if (x !== undefined) self.searchParams.append(k, x);
  return [allOk, historyBundle(ctx, page, self.toString())];
}

export const historyInstance: FhirRouteHandler = (req, repo) => history(req, repo as Repository, req.params.resourceType, req.params.id);
export const historyType: FhirRouteHandler = (req, repo) => history(req, repo as Repository, req.params.resourceType);
export const historySystem: FhirRouteHandler = (req, repo) => history(req, repo as Repository);
