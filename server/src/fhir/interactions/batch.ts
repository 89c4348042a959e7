import { allOk } from '@medplum/core';
import { type FhirRequest, type FhirResponse, type FhirRouteHandler, processBatch } from '@medplum/fhir-router';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { validate } from '../../store/validate.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * batch and transaction (https://hl7.org/fhir/R4/http.html#transaction), processed by
 * @medplum/fhir-router's BatchProcessor over our repository: a transaction runs in one database
 * transaction (all or nothing) and urn:uuid references are rewritten to the ids assigned.
 * Before that, conditional references (`Patient?identifier=...`) inside resources are resolved
 * here, as R4 asks: exactly one match replaces the reference, none or several fail the bundle.
 */
const CONDITIONAL_REF = /^([A-Z][A-Za-z]+)\?(.+)$/;

export const batchOrTransaction: FhirRouteHandler = async (req: FhirRequest, repo, router): Promise<FhirResponse> => {
  const bundle = req.body as Bundle;
  if (!bundle || bundle.resourceType !== 'Bundle') fail('invalid', 'Expected a Bundle of type batch or transaction', 'resourceType');
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    fail('invalid', `Bundle.type must be 'batch' or 'transaction', not '${String(bundle.type)}'`, 'Bundle.type');
  }
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) fail('invalid', 'The bundle has no entries', 'Bundle.entry');
  bundle.entry.forEach((e, i) => {
    const request = (e as typeof e | null)?.request;
    if (typeof request?.method !== 'string' || typeof request.url !== 'string' || !request.url) {
      fail('invalid', `Entry ${i} has no request method and url`, `Bundle.entry[${i}].request`);
    }
    if (request.method === 'PATCH' && e.resource?.resourceType === 'Binary') checkBinaryPatch(e.resource.data, i);
  });
  validateEnvelope(bundle);
  if (bundle.type === 'transaction') await resolveConditionalReferences(bundle, repo as Repository);
  // The processor copies each entry; the copies would lose the decimals' text (store/decimals.ts).
  (repo as Repository).keepDecimalsOf(bundle.entry.flatMap((e) => (e.resource ? [e.resource] : [])));
  const result = await processBatch({ ...req, config: { ...req.config, transactions: true } }, repo, router, bundle);
  // Prefer: return=minimal applies to the entries too: answer with status, location and etag only.
  if (/return\s*=\s*minimal/.test(String(req.headers?.prefer ?? ''))) {
    for (const e of result.entry ?? []) {
      if (e.resource && e.resource.resourceType !== 'OperationOutcome') {
        e.response = { ...e.response, etag: e.resource.meta?.versionId ? `W/"${e.resource.meta.versionId}"` : undefined } as typeof e.response;
        delete e.resource;
      }
    }
  }
  return [allOk, result];
};

/**
 * The Bundle's own rules: its elements and invariants (bdl-1..8, https://hl7.org/fhir/R4/bundle.html#invariants).
 * The entries' resources are left out here: each is validated by its own write, so an invalid
 * entry of a batch fails alone. bdl-7 reads the resources (entries may share a fullUrl when their
 * meta.versionId differs), so it is checked here, before the validator sees the envelope.
 */
function validateEnvelope(bundle: Bundle): void {
  const entries = bundle.entry ?? [];
  const seen = new Map<string, number>();
  const fullUrls = new Set<string>();
  const shared = new Set<string>();
  entries.forEach((e, i) => {
    if (typeof e?.fullUrl !== 'string') return;
    const key = `${e.fullUrl} ${e.resource?.meta?.versionId ?? ''}`;
    const first = seen.get(key);
    if (first !== undefined) fail('invalid', `Entries ${first} and ${i} have the same fullUrl; a fullUrl must be unique in a bundle (bdl-7)`, `Bundle.entry[${i}].fullUrl`);
    if (fullUrls.has(e.fullUrl)) shared.add(e.fullUrl);
    fullUrls.add(e.fullUrl);
    seen.set(key, i);
  });
  if (plainEnvelope(bundle)) return;
  // Entries that rightly share a fullUrl (other versions) keep it out of the envelope, whose bdl-7 cannot see versions.
  const envelope = entries.map(({ resource: _resource, ...rest }: BundleEntry) => {
    if (typeof rest.fullUrl !== 'string' || !shared.has(rest.fullUrl)) return rest;
    const { fullUrl: _fullUrl, ...unshared } = rest;
    return unshared;
  });
  validate({ ...bundle, entry: envelope });
}

const VERBS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);
const UUID_URN = /^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const URL_TEXT = /^\S{1,4096}$/;

/**
 * The envelope every bundle loader sends, whose validation can only pass: a transaction or batch
 * of entries that hold a urn:uuid fullUrl, a request of a known method and a url (a uri: no
 * whitespace), a resource, and nothing else. The validator's envelope pass cost about a tenth of
 * the bundle's resources' validation (issue 12, ingest profile); any other envelope, including
 * every one it would refuse, still goes through it for its exact answer.
 */
export function plainEnvelope(bundle: Bundle): boolean {
  for (const key in bundle) if (key !== 'resourceType' && key !== 'type' && key !== 'entry') return false;
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') return false;
  for (const entry of bundle.entry ?? []) {
    for (const key in entry) if (key !== 'fullUrl' && key !== 'request' && key !== 'resource') return false;
    if (entry.fullUrl !== undefined && (typeof entry.fullUrl !== 'string' || !UUID_URN.test(entry.fullUrl))) return false;
    const request = entry.request as Record<string, unknown> | undefined;
    if (!request || typeof request !== 'object') return false;
    for (const key in request) if (key !== 'method' && key !== 'url') return false;
    if (typeof request.method !== 'string' || !VERBS.has(request.method)) return false;
    if (typeof request.url !== 'string' || !URL_TEXT.test(request.url)) return false;
  }
  return true;
}

/**
 * A PATCH entry's JSON Patch in a Binary (the form R4 gives for bundles): @medplum/fhir-router
 * decodes and parses it itself, and would answer bad JSON in V8's words.
 */
function checkBinaryPatch(data: string | undefined, i: number): void {
  try {
    if (Array.isArray(JSON.parse(Buffer.from(data ?? '', 'base64').toString('utf8')))) return;
  } catch {
    // Answered below.
  }
  fail('invalid', `Entry ${i}: the Binary's data must be a JSON Patch (a base64-encoded JSON array)`, `Bundle.entry[${i}].resource.data`);
}

async function resolveConditionalReferences(bundle: Bundle, repo: Repository): Promise<void> {
  // Found in one synchronous walk, then resolved in document order: most bundles have none, and
  // an await per node of every resource cost more than the rest of the bundle's preparation.
  const found: { obj: Record<string, unknown>; value: string; type: string; query: string; path: () => string }[] = [];
  const visit = (node: unknown, path: () => string): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) visit(node[i], () => `${path()}[${i}]`);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    for (const k in obj) {
      const v = obj[k];
      if (k === 'reference' && typeof v === 'string') {
        const m = CONDITIONAL_REF.exec(v);
        if (m) found.push({ obj, value: v, type: m[1], query: m[2], path });
      } else if (v && typeof v === 'object') {
        visit(v, () => `${path()}.${k}`);
      }
    }
  };
  for (let i = 0; i < (bundle.entry ?? []).length; i++) {
    const resource = bundle.entry?.[i].resource;
    if (resource) visit(resource, () => `Bundle.entry[${i}].resource`);
  }
  const cache = new Map<string, string>();
  for (const { obj, value, type, query, path } of found) {
    let resolved = cache.get(value);
    if (!resolved) {
      const result = await repo.searchParams(type, [...new URLSearchParams(query), ['_count', '2'], ['_total', 'none']]);
      const n = result.entry?.filter((e) => e.search?.mode !== 'outcome').length ?? 0;
      if (n !== 1) {
        fail(n === 0 ? 'not-found' : 'multiple-matches', `Conditional reference '${value}' matched ${n} resources; it must match exactly one`, `${path()}.reference`);
      }
      const r = result.entry?.[0]?.resource;
      resolved = `${r?.resourceType}/${r?.id}`;
      cache.set(value, resolved);
    }
    obj.reference = resolved;
  }
}
