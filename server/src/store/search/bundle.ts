import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { type SubsetOptions, applySubset } from '../../kernel/subset.ts';
import { parseStored } from '../../kernel/json.ts';

/**
 * The searchset Bundle (https://hl7.org/fhir/R4/search.html#bundle, bundle.html#searchset):
 * matches (search.mode 'match'), then included resources ('include'), then an OperationOutcome
 * ('outcome') when lenient handling ignored something. fullUrl is the resource's absolute URL.
 * _summary/_elements subset the matches only; included resources are returned whole.
 */
export interface BundleRow {
  type: string;
  id: string;
  content: string;
}

export interface SearchsetParts {
  fhirBase: string;
  total?: number;
  links: BundleLink[];
  matches: BundleRow[];
  includes: BundleRow[];
  warnings: string[];
  subset?: SubsetOptions;
}

export function searchsetBundle(parts: SearchsetParts): Bundle<Resource> {
  const entry: BundleEntry<Resource>[] = [];
  const wantSubset = parts.subset && ((parts.subset.summary && parts.subset.summary !== 'false') || parts.subset.elements);
  for (const row of parts.matches) {
    const resource = parseStored(row.content) as Resource;
    entry.push({
      fullUrl: `${parts.fhirBase}/${row.type}/${row.id}`,
      resource: wantSubset && parts.subset ? applySubset(resource, parts.subset) : resource,
      search: { mode: 'match' },
    });
  }
  for (const row of parts.includes) {
    entry.push({ fullUrl: `${parts.fhirBase}/${row.type}/${row.id}`, resource: parseStored(row.content) as Resource, search: { mode: 'include' } });
  }
  if (parts.warnings.length) {
    entry.push({
      resource: {
        resourceType: 'OperationOutcome',
        issue: parts.warnings.map((w) => ({ severity: 'warning', code: 'not-supported', diagnostics: w })),
      },
      search: { mode: 'outcome' },
    });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(parts.total !== undefined ? { total: parts.total } : {}),
    link: parts.links,
    ...(entry.length ? { entry } : {}),
  };
}
