import type { Bundle, Composition, OperationOutcome } from '@medplum/fhirtypes';
import type { SmartClient } from '../../shared/smart.ts';

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** An operation the server refused: carries its OperationOutcome for problemFrom(). */
class Refused extends Error {
  constructor(readonly outcome: OperationOutcome) {
    super(outcome.issue?.[0]?.diagnostics ?? 'refused');
  }
}

/**
 * POST Composition/[id]/$sign or $countersign (server/src/clinical/notes/sign.ts): no body; the
 * answer is a collection Bundle whose first entry is the signed Composition version.
 */
export async function signing(fetch: Fetch, noteId: string, op: '$sign' | '$countersign'): Promise<Composition> {
  const res = await fetch(`${window.location.origin}/fhir/R4/Composition/${encodeURIComponent(noteId)}/${op}`, {
    method: 'POST',
    headers: { Accept: 'application/fhir+json' },
  });
  const body = (await res.json().catch(() => undefined)) as Bundle | OperationOutcome | undefined;
  if (!res.ok) {
    throw new Refused(
      body?.resourceType === 'OperationOutcome' ? body : { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: `The server answered ${res.status}.` }] }
    );
  }
  const note = (body as Bundle | undefined)?.entry?.find((e) => e.resource?.resourceType === 'Composition')?.resource as Composition | undefined;
  if (!note) throw new Refused({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: 'The server did not return the signed note.' }] });
  return note;
}

/**
 * The person's roles as the access token states them (the `roles` claim our server puts in it).
 * Used only to decide what to offer (the countersign queue to supervisors): the server decides
 * every request on its own.
 */
export function tokenRoles(smart: SmartClient): string[] {
  const token = smart.state.tokenResponse?.access_token;
  const payload = token?.split('.')[1];
  if (!payload) return [];
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { roles?: unknown };
    return Array.isArray(json.roles) ? json.roles.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export const shortDate = (iso: string | undefined): string =>
  iso ? new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : '';
export const dateTime = (iso: string | undefined): string =>
  iso ? new Date(iso).toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : '';
