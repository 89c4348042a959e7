import { exportJWK, generateKeyPair } from 'jose';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { randomUUID } from 'node:crypto';
import http from 'node:http';

/**
 * The benchmark's HTTP client: keep-alive node:http (lighter than fetch, so the load generator
 * takes less of the machine it shares with the server) and a backend-services token that is
 * renewed before it expires.
 */
export interface Credentials {
  clientId: string;
  key: CryptoKey;
  kid: string;
}

export interface BenchClient {
  credentials: Credentials;
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<Response>;
}

export async function makeCredentials(register: (jwks: { keys: unknown[] }) => Promise<string>): Promise<Credentials> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  const clientId = await register({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384' }] });
  return { clientId, key: privateKey, kid };
}

/**
 * A client that sends one fixed bearer token (a person's token minted for the access benchmark);
 * the caller keeps it within its lifetime.
 */
export function fixedTokenClient(base: string, token: string): BenchClient {
  return httpClient(base, async () => token, { clientId: 'fixed', key: undefined as unknown as CryptoKey, kid: '' });
}

/** `apiBase`: where requests go when it is not `base` (another node of the same server; tokens come from `base`). */
export async function benchClient(base: string, credentials: Credentials, apiBase = base): Promise<BenchClient> {
  let token = '';
  let expires = 0;
  const fetchToken = async () => {
    const res = await requestToken({ baseUrl: base, clientId: credentials.clientId, key: { key: credentials.key, kid: credentials.kid, alg: 'ES384' }, scope: 'system/*.cruds' });
    if (res.status !== 200 || typeof res.body.access_token !== 'string') throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
    token = res.body.access_token;
    expires = Date.now() + (Number(res.body.expires_in) - 30) * 1000;
  };
  let refreshing: Promise<void> | undefined;
  const ensureToken = async () => {
    if (Date.now() < expires) return;
    refreshing ??= fetchToken().finally(() => (refreshing = undefined));
    await refreshing;
  };
  await ensureToken();
  return httpClient(
    apiBase,
    async () => {
      await ensureToken();
      return token;
    },
    credentials
  );
}

function httpClient(base: string, bearer: () => Promise<string>, credentials: Credentials): BenchClient {
  // Idle sockets are dropped after 4 s, before the server's 5 s keep-alive timeout (Node's
  // default) closes them: else a request sent on a socket the server is closing at that moment
  // fails with ECONNRESET, an error of the load generator, not of the server (seen in bench:soak).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4000 });
  return {
    credentials,
    async request(method, path, body, headers = {}) {
      const token = await bearer();
      const url = new URL(`${base}/fhir/R4/${path}`);
      // A request sent on a kept-alive socket that the server closed at that moment fails with
      // ECONNRESET before the server read it (on a loaded machine the 4 s idle timer fires
      // late; see the agent above): sent again once on a fresh socket, as Node's documentation advises (req.reusedSocket).
      const send = (retry: boolean): Promise<Response> => new Promise<Response>((resolve, reject) => {
        const req = http.request(
          url,
          {
            method,
            agent,
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/fhir+json',
              ...(body ? { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) } : {}),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const h = new Headers();
              for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
              const status = res.statusCode ?? 0;
              resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
            });
            res.on('error', reject);
          }
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (retry && req.reusedSocket && err.code === 'ECONNRESET') send(false).then(resolve, reject);
          else reject(err);
        });
        if (body) req.write(body);
        req.end();
      });
      return send(true);
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
