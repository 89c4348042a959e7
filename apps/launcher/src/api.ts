import type { OperationOutcome } from '@medplum/fhirtypes';

/**
 * The server's EHR launch API (server/src/auth/launch/ehr-launch-api.ts), called with the
 * launcher's own token: which apps can be launched, and a launch for a patient (and encounter).
 * A refusal is thrown as `Refused` carrying the server's OperationOutcome (problemFrom reads it).
 */
type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface LaunchableApp {
  id: string;
  name: string;
}

export interface Launch {
  launch: string;
  /** The app's launch URL with `iss` and `launch`. */
  url: string;
}

export class Refused extends Error {
  constructor(readonly outcome: OperationOutcome) {
    super(outcome.issue?.[0]?.diagnostics ?? 'refused');
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => undefined)) as (T & { resourceType?: string }) | undefined;
  if (res.ok && body) return body;
  throw new Refused(
    body?.resourceType === 'OperationOutcome'
      ? (body as unknown as OperationOutcome)
      : { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: `The server answered ${res.status}.` }] }
  );
}

export async function launchableApps(fetch: Fetch): Promise<LaunchableApp[]> {
  const res = await fetch(`${window.location.origin}/auth/launch/apps`, { headers: { Accept: 'application/json' } });
  return (await answer<{ apps: LaunchableApp[] }>(res)).apps;
}

export async function createLaunch(fetch: Fetch, input: { app: string; patient: string; encounter?: string }): Promise<Launch> {
  const res = await fetch(`${window.location.origin}/auth/launch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(input),
  });
  return answer<Launch>(res);
}
