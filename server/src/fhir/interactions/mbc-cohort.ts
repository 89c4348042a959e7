import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Parameters } from '@medplum/fhirtypes';
import { type CohortInput, runCohort } from '../../clinical/outcomes/cohort.ts';
import type { Repository } from '../../store/repository.ts';
import { fail } from '../../kernel/outcome.ts';

const NAMES = ['program', 'payer', 'practitioner', 'start', 'end'] as const;

/**
 * [base]/$mbc-cohort (GET with query parameters, or POST with a Parameters body): outcome rates
 * over the tenant's patients, filtered by program, payer, practitioner and a date window,
 * computed in one SQL statement over the index tables (clinical/outcomes/cohort-sql.ts). Needs
 * unrestricted search of the types it reads, else 403 (clinical/outcomes/cohort.ts).
 */
export const mbcCohort: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const input: CohortInput = {};
  const set = (name: string, value: unknown) => {
    if (!(NAMES as readonly string[]).includes(name)) fail('invalid', `Unknown parameter '${name}' for $mbc-cohort`, name);
    if (typeof value !== 'string' || !value) fail('invalid', `Parameter '${name}' needs a value`, name);
    if (input[name as keyof CohortInput] !== undefined) fail('invalid', `Parameter '${name}' is repeated`, name);
    input[name as keyof CohortInput] = value;
  };
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (k.startsWith('_')) continue; // _format and friends are handled by the HTTP layer.
    for (const x of [v].flat()) set(k, x);
  }
  if (req.method === 'POST' && req.body && typeof req.body === 'object') {
    const body = req.body as Parameters;
    if (body.resourceType !== 'Parameters') fail('invalid', 'The body of POST $mbc-cohort must be a Parameters resource', 'resourceType');
    for (const p of body.parameter ?? []) {
      const value = p.valueString ?? p.valueCode ?? p.valueDate ?? p.valueDateTime ?? p.valueUri ?? p.valueReference?.reference ??
        (p.valueCoding ? `${p.valueCoding.system ? p.valueCoding.system + '|' : ''}${p.valueCoding.code ?? ''}` : undefined);
      set(p.name, value);
    }
  }
  return [allOk, await runCohort(repo as Repository, input)];
};
