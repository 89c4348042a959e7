import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../db/database.ts';
import { log } from '../../log.ts';
import { Repository } from '../../store/repository.ts';
import { installRelease } from '../releases.ts';
import { DEFAULT_CRISIS_RESOURCES } from './crisis-resources.ts';
import { SHIPPED_RULES, parseRuleSet } from './rules.ts';

/**
 * Puts the shipped rule set (PlanDefinition/risk-rules, ./risk-rules.json) and the default crisis
 * resources (HealthcareService/crisis-988, crisis-emergency) into a tenant, each only when the
 * tenant has never had it: once present (even deleted) it is the tenant's, and a new release
 * never overwrites a tenant's deadlines or rules. Runs at tenant creation, and at server start in
 * every tenant that has not had this release of the defaults (../releases.ts).
 */
export async function installRiskDefaults(q: Queryable, tenant: string): Promise<string[]> {
  // A broken shipped file stops the start rather than leaving tenants without rules.
  parseRuleSet(SHIPPED_RULES);
  const repo = Repository.forServer(q as Database, { reason: 'risk rules install', tenant, fhirBase: 'urn:bh-fhir:install', lenient: false, defaultCount: 1, maxCount: 1 }, q);
  const created: string[] = [];
  for (const resource of [SHIPPED_RULES, ...DEFAULT_CRISIS_RESOURCES] as Resource[]) {
    const { rows } = await q.query('SELECT 1 FROM resource WHERE tenant = $1 AND type = $2 AND id = $3', [tenant, resource.resourceType, resource.id]);
    if (rows.length) continue;
    try {
      await repo.updateResource(structuredClone(resource));
      created.push(`${resource.resourceType}/${resource.id}`);
    } catch (err) {
      // Another node starting at the same moment stored it first: the same release.
      if (!(err instanceof OperationOutcomeError && err.outcome.id === 'conflict')) throw err;
    }
  }
  return created;
}

export async function installRiskDefaultsEverywhere(db: Database): Promise<void> {
  await installRelease(db, 'risk-defaults', [SHIPPED_RULES, ...DEFAULT_CRISIS_RESOURCES], async (tenant) => {
    const created = await installRiskDefaults(db, tenant);
    if (created.length) log.info('installed risk defaults', { tenant, created });
  });
}
