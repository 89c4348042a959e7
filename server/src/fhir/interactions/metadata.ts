import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { subscriptionCapabilities } from '../../subscriptions/capabilities.ts';
import { websocketUrl } from '../../subscriptions/channels/websocket.ts';
import { resourceTypes, searchParamsFor } from '../../kernel/definitions.ts';
import { AUDIT_TYPE } from '../../store/audit-table.ts';
import { AUDIT_SEARCH_PARAMS } from '../../store/search/audit.ts';
import { DISCLOSURES_OPERATION } from './disclosures-operation.ts';

/**
 * GET /metadata (https://hl7.org/fhir/R4/http.html#capabilities): generated from what the server
 * actually routes and indexes, so it cannot drift from the code. Public, like SMART discovery.
 */
export const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const;
const AUDIT_INTERACTIONS = ['read', 'vread', 'history-instance', 'history-type', 'search-type'] as const;
export const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'search-system', 'history-system'] as const;

/** FHIR Bulk Data Access 2.0 (https://hl7.org/fhir/uv/bulkdata/): $export at system, Patient and Group level (server/src/bulk). */
const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata';

let cached: { key: string; statement: CapabilityStatement } | undefined;

/** For each type, the `Source:param` reference parameters that can point at it. */
function revIncludes(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const source of resourceTypes()) {
    for (const p of searchParamsFor(source).values()) {
      if (p.type !== 'reference') continue;
      for (const target of p.definition.target ?? []) {
        const list = out.get(target) ?? [];
        list.push(`${source}:${p.code}`);
        out.set(target, list);
      }
    }
  }
  return out;
}

export function capabilityStatement(baseUrl: string, fhirBase: string, software: { name: string; version: string }): CapabilityStatement {
  if (cached?.key === fhirBase) return cached.statement;
  // Once for all types (not once per type: that was most of the first /metadata's time).
  const revIncludesByTarget = revIncludes();
  const resource: CapabilityStatementRestResource[] = resourceTypes()
    .filter((t) => t !== 'Binary' && t !== 'Parameters')
    .map((type) => {
      const params = [...searchParamsFor(type).values()];
      const r: CapabilityStatementRestResource = {
        type: type as CapabilityStatementRestResource['type'],
        profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
        interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
        versioning: 'versioned-update',
        readHistory: true,
        updateCreate: true,
        conditionalCreate: true,
        conditionalRead: 'not-supported',
        conditionalUpdate: true,
        conditionalDelete: 'single',
        referencePolicy: ['literal', 'logical', 'local'],
        searchInclude: params.filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`),
        searchRevInclude: revIncludesByTarget.get(type) ?? [],
        searchParam: params.map((p) => ({
          name: p.code,
          definition: p.definition.url,
          type: p.type,
          documentation: p.definition.description?.slice(0, 200),
        })),
        operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
      };
      if (type === AUDIT_TYPE) {
        // The audit trail: written by the server alone, searched by what its table indexes (server/src/audit).
        r.interaction = AUDIT_INTERACTIONS.map((code) => ({ code }));
        r.searchParam = r.searchParam?.filter((p) => AUDIT_SEARCH_PARAMS.includes(p.name));
        r.searchInclude = r.searchInclude?.filter((i) => AUDIT_SEARCH_PARAMS.includes(i.split(':')[1]));
        r.updateCreate = false;
        r.conditionalCreate = false;
        r.conditionalUpdate = false;
        r.conditionalDelete = 'not-supported';
      }
      if (type === 'Patient') {
        r.operation?.push({ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' });
        // Accounting of disclosures (./disclosures.ts); not a published operation: our own definition.
        r.operation?.push({ name: 'disclosures', definition: DISCLOSURES_OPERATION.url as string, documentation: 'Accounting of disclosures (HIPAA 45 CFR 164.528): the patient and privacy officers' });
        r.operation?.push({ name: 'export', definition: `${BULK_DATA}/OperationDefinition/patient-export` });
      }
      if (type === 'Group') r.operation?.push({ name: 'export', definition: `${BULK_DATA}/OperationDefinition/group-export` });
      if (type === 'Subscription') {
        // Topics offered and the Backport IG operations (subscriptions/capabilities.ts).
        const caps = subscriptionCapabilities();
        r.extension = caps.extension;
        r.supportedProfile = caps.supportedProfile;
        r.operation?.push(...caps.operation);
      }
      return r;
    });
  const statement: CapabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    instantiates: [`${BULK_DATA}/CapabilityStatement/bulk-data`],
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    software,
    implementation: { description: 'Behavioral-health FHIR server', url: fhirBase },
    rest: [
      {
        mode: 'server',
        // Where websocket Subscriptions connect (R4 core extension capabilitystatement-websocket;
        // the Backport IG's $get-ws-binding-token answers the same URL).
        extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: websocketUrl(fhirBase) }],
        security: {
          cors: true,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: 'SMART Backend Services (client_credentials with private_key_jwt); see /.well-known/smart-configuration',
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${baseUrl}/auth/token` }],
            },
          ],
        },
        resource,
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
        operation: [{ name: 'export', definition: `${BULK_DATA}/OperationDefinition/export` }],
        searchParam: [
          { name: '_type', type: 'token' },
          { name: '_id', type: 'token' },
          { name: '_lastUpdated', type: 'date' },
        ],
      },
    ],
  };
  cached = { key: fhirBase, statement };
  return statement;
}
