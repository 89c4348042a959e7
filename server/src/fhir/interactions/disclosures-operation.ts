import type { OperationDefinition } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';

/**
 * The OperationDefinition of Patient/[id]/$disclosures (./disclosures-operation.json), which the
 * CapabilityStatement names as the operation's definition. The server installs no
 * OperationDefinition resources in tenants; the document ships with the code.
 */
export const DISCLOSURES_OPERATION = JSON.parse(readFileSync(new URL('./disclosures-operation.json', import.meta.url), 'utf8')) as OperationDefinition;
