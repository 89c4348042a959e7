import { exportJWK, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { expect } from 'vitest';
import { registerBackendClient } from '../../server/src/auth/clients.ts';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import type { Queryable } from '../../server/src/db/database.ts';

/**
 * What the $export tests share: the Synthea fixture (test/fixtures, Apache-2.0) loaded through
 * transactions, backend clients of their own (each a different requester), and a bulk-data
 * client's side of the protocol: kick-off, poll, manifest, download.
 */
export const SYNTHEA = join(import.meta.dirname, '../fixtures/synthea-r4-8-bundles.ndjson.gz');

export type Res = Record<string, any>;
export interface Loaded {
  /** Source resource as in the fixture, its bundle's index and the id the server gave it. */
  resource: Res;
  bundle: number;
  id: string;
}

export async function readBundles(): Promise<Res[]> {
  const out: Res[] = [];
  const rl = createInterface({ input: createReadStream(SYNTHEA).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of rl) out.push(JSON.parse(line));
  return out;
}

/** Posts one transaction bundle; the server ids of its entries, in order. */
export async function postBundle(fhirBase: string, token: string, bundle: Res): Promise<string[]> {
  const res = await fetch(`${fhirBase}/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify(bundle),
  });
  const out = (await res.json()) as Res;
  expect(res.status, JSON.stringify(out).slice(0, 300)).toBe(200);
  return out.entry.map((e: Res) => e.resource.id as string);
}

/**
 * A new backend client of `tenant` (registered as the CLI does) and a token for it; with
 * `purpose`, the client may ask for that purpose of use and its token does (purpose/<code>).
 */
export async function newClient(db: Queryable, baseUrl: string, tenant: string, scope: string, organization?: string, purpose?: string): Promise<{ clientId: string; token: () => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES384' };
  const { clientId } = await registerBackendClient(db, { tenant, name: `bulk-${kid.slice(0, 8)}`, jwks: { keys: [jwk] }, scope, organization, ...(purpose ? { purposes: [purpose] } : {}) });
  return {
    clientId,
    async token() {
      const res = await requestToken({ baseUrl, clientId, key: { key: privateKey, kid, alg: 'ES384' }, scope: purpose ? `${scope} purpose/${purpose}` : scope });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.access_token as string;
    },
  };
}

const headers = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async', ...extra });

/** Kick-off; returns the status URL (Content-Location). */
export async function kickoff(fhirBase: string, token: string, path: string, body?: Res, extra: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${fhirBase}/${path}`, {
    method: body ? 'POST' : 'GET',
    headers: headers(token, body ? { 'content-type': 'application/fhir+json', ...extra } : extra),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  const location = res.headers.get('content-location');
  expect(location).toMatch(/\/\$export-status\/[0-9a-f-]{36}$/);
  return location as string;
}

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
  extension?: Record<string, any>;
}

/** Polls as a client would (honouring Retry-After, capped) until the manifest comes. */
export async function poll(statusUrl: string, token: string, timeoutMs = 120_000): Promise<{ manifest: Manifest; progress: string[] }> {
  const progress: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    if (res.status === 200) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return { manifest: (await res.json()) as Manifest, progress };
    }
    expect(res.status, await res.text()).toBe(202);
    progress.push(res.headers.get('x-progress') ?? '');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    if (Date.now() > deadline) throw new Error(`export not done in ${timeoutMs} ms: ${progress.at(-1)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every resource of every output file, by type. */
export async function download(manifest: Manifest, token: string): Promise<Map<string, Res[]>> {
  const out = new Map<string, Res[]>();
  for (const o of manifest.output) {
    const res = await fetch(o.url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/fhir+ndjson');
    const lines = (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Res);
    expect(lines.length).toBe(o.count);
    for (const r of lines) expect(r.resourceType).toBe(o.type);
    out.set(o.type, [...(out.get(o.type) ?? []), ...lines]);
  }
  return out;
}

export async function exportAll(fhirBase: string, token: string, path: string, body?: Res, extra?: Record<string, string>): Promise<{ manifest: Manifest; files: Map<string, Res[]>; status: string }> {
  const status = await kickoff(fhirBase, token, path, body, extra);
  const { manifest } = await poll(status, token);
  return { manifest, files: await download(manifest, token), status };
}

export const ids = (rs: Res[] | undefined): string[] => (rs ?? []).map((r) => r.id as string).sort();
