import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BENCH_SECRET_KEYS } from '../bench/secret-keys.ts';
import { type ServerProcess, type SharedDatabase, freshPostgres, startServerProcess } from '../bench/server-process.ts';

// A cluster's workers start one at a time (server/src/serve.ts), so connections a client opens
// while only the first listens all go to it, and keep-alive keeps them there. When the next worker
// listens, the first closes each of those connections after its next answer (`Connection: close`,
// server/src/http/rebalance.ts) and the client's new connections are spread over both workers.
// A cluster needs PostgreSQL (PGlite runs one process): this file runs where DATABASE_URL is set.

/** The server process (a worker) holding the server side of the client's connection from `localPort`. */
function workerOf(serverPort: number, localPort: number, workers: number[]): number | undefined {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  // A server listening on :: holds IPv4 connections as IPv4-mapped IPv6 ones (tcp6).
  const row = ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((f) => readFileSync(f, 'utf8').split('\n'))
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(localPort)}`));
  const inode = row?.[9];
  if (!inode) return undefined;
  return workers.find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }) === `socket:[${inode}]`));
}

interface Answer {
  status: number;
  connection: string | undefined;
  localPort: number;
}

describe.runIf(process.env.DATABASE_URL)('keep-alive connections and a worker that joins (needs DATABASE_URL)', () => {
  let shared: SharedDatabase;
  let server: ServerProcess;
  let log = '';
  // One agent per client, holding one connection at a time: a shared agent hands its most recently
  // used free socket to whichever client asks next, so four clients could share one new connection.
  const agents = Array.from({ length: 4 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const listening = () => log.match(/"msg":"listening"/g)?.length ?? 0;

  const get = (path: string, agent: http.Agent) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path, agent }, (res) => {
        const localPort = (res.socket as { localPort?: number }).localPort as number;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, localPort }));
      });
      req.on('error', reject);
    });
  const workers = () => readFileSync(`/proc/${server.proc.pid}/task/${server.proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

  beforeAll(async () => {
    shared = await freshPostgres(process.env.DATABASE_URL as string, 'rebalance');
    server = await startServerProcess({ shared, env: { WORKERS: '2', LOG_LEVEL: 'info', SECRET_KEYS: BENCH_SECRET_KEYS }, stderr: (t) => (log += t) });
  }, 120_000);

  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await server?.stop();
    await shared?.drop();
  });

  test('connections opened before the second worker listens move, once, and then use both workers', { timeout: 90_000 }, async () => {
    // Four clients, each sending a request every 100 ms on a kept-alive connection (idle ones
    // would be closed by the server's keep-alive timeout instead), from before the second worker
    // listens until each has answers on a new connection after its old one was let go.
    const answers: (Answer & { workersListening: number })[] = [];
    const deadline = Date.now() + 60_000;
    await Promise.all(
      agents.map(async (agent) => {
        let closedAt = -1;
        for (let n = 0; Date.now() < deadline && (closedAt < 0 || n < closedAt + 3); n++) {
          const a = await get('/healthz', agent);
          answers.push({ ...a, workersListening: listening() });
          if (a.connection === 'close' && closedAt < 0) closedAt = n;
          await new Promise((r) => setTimeout(r, 100));
        }
      })
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // The first connections were opened while only the first worker listened.
    const first = [...new Set(answers.slice(0, 4).map((a) => a.localPort))];
    expect(first).toHaveLength(4);
    expect(answers.slice(0, 4).every((a) => a.workersListening === 1)).toBe(true);
    // Nothing is let go before the second worker listens; then each old connection once, and for good.
    expect(answers.filter((a) => a.connection === 'close').every((a) => a.workersListening === 2)).toBe(true);
    for (const port of first) {
      const on = answers.filter((a) => a.localPort === port);
      expect(on.filter((a) => a.connection === 'close')).toHaveLength(1);
      expect(on.at(-1)?.connection).toBe('close');
    }
    // The new connections are kept alive, and the primary spread them over both workers.
    const later = answers.filter((a) => !first.includes(a.localPort));
    expect(later.length).toBeGreaterThanOrEqual(8);
    expect(later.every((a) => a.connection !== 'close')).toBe(true);
    const pids = workers();
    expect(pids).toHaveLength(2);
    const serving = new Set([...new Set(later.map((a) => a.localPort))].map((p) => workerOf(server.port, p, pids)));
    expect([...serving].sort()).toEqual([...pids].sort());
  });
});
