import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';

/**
 * The few FHIR calls intake makes, over the app's SMART fetch (token, refresh, SessionExpired).
 * Nothing is cached: every screen reads what the server has now (a new assignment shows at once).
 * A refusal throws a FhirError carrying the server's OperationOutcome, which `problemFrom`
 * (shared/problem.ts) turns into plain words and the items it names.
 */
export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome
  ) {
    super(outcome.issue?.[0]?.diagnostics ?? `HTTP ${status}`);
  }
}

export type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface Fhir {
  read<T extends Resource>(reference: string): Promise<T>;
  search<T extends Resource>(query: string): Promise<T[]>;
  create<T extends Resource>(resource: T): Promise<T>;
  update<T extends Resource>(resource: T): Promise<T>;
}

const base = (): string => `${window.location.origin}/fhir/R4/`;

export function fhirClient(fetchWithToken: Fetch): Fhir {
  async function send<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetchWithToken(base() + path, {
      ...init,
      cache: 'no-store',
      headers: { Accept: 'application/fhir+json', ...(init.body ? { 'Content-Type': 'application/fhir+json' } : {}) },
    });
    const body = (await res.json().catch(() => undefined)) as (Resource & OperationOutcome) | undefined;
    if (!res.ok) {
      const outcome: OperationOutcome =
        body?.resourceType === 'OperationOutcome'
          ? body
          : { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: res.status === 404 ? 'not-found' : res.status === 403 ? 'forbidden' : 'exception' }] };
      throw new FhirError(res.status, outcome);
    }
    return body as T;
  }
  return {
    read: (reference) => send(reference),
    async search<T extends Resource>(query: string) {
      const bundle = await send<Bundle>(query);
      return (bundle.entry ?? []).map((e) => e.resource as T).filter((r) => r && r.resourceType !== ('OperationOutcome' as string));
    },
    create: (resource) => send(resource.resourceType, { method: 'POST', body: JSON.stringify(resource) }),
    update: (resource) => send(`${resource.resourceType}/${resource.id}`, { method: 'PUT', body: JSON.stringify(resource) }),
  };
}

/** `Patient/123` from a fhirUser that may be an absolute URL. */
export function relativeReference(fhirUser: string | undefined): string | undefined {
  const m = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(fhirUser ?? '');
  return m?.[1];
}
