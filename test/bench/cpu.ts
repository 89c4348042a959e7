import { readFileSync } from 'node:fs';
import pg from 'pg';

/**
 * CPU time (user + system, ms) spent by the server's processes and by the PostgreSQL backends of
 * one database, read from /proc (Linux; the benchmark runs the database on this machine). On a
 * machine shared with other work, throughput swings with the neighbours' load, while the CPU a
 * request costs does not: the benchmark reports both.
 */
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** undefined once the process is gone. */
function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface CpuSample {
  server: number;
  database: number;
}

export interface CpuMeter {
  /** Starts counting from now (the processes' CPU so far is the baseline). */
  start(): Promise<void>;
  /** CPU since start(): database backends are polled meanwhile, so one that ends early still counts. */
  stop(): Promise<CpuSample>;
  close(): Promise<void>;
}

/** `serverPid`: the server's main process (its cluster workers are counted too); `databaseUrl`: the bench database. */
export async function cpuMeter(serverPid: number, databaseUrl: string): Promise<CpuMeter> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  // pid → [CPU when first seen (0 for a backend started after start()), CPU when last seen]
  let backends = new Map<number, [number, number]>();
  let serverStart = 0;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const serverCpu = () => [serverPid, ...children(serverPid)].reduce((sum, p) => sum + (cpuMs(p) ?? 0), 0);
  const poll = async (first: boolean) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    for (const { pid } of rows) {
      // A backend that has ended keeps the CPU it was last seen with.
      const now = cpuMs(pid);
      if (now === undefined) continue;
      const seen = backends.get(pid);
      if (seen) seen[1] = now;
      else backends.set(pid, [first ? now : 0, now]);
    }
  };
  return {
    async start() {
      backends = new Map();
      serverStart = serverCpu();
      await poll(true);
      timer = setInterval(() => {
        polling = polling.then(() => poll(false)).catch(() => undefined);
      }, 200);
    },
    async stop() {
      if (timer) clearInterval(timer);
      await polling;
      await poll(false);
      let database = 0;
      for (const [from, to] of backends.values()) database += to - from;
      return { server: serverCpu() - serverStart, database };
    },
    close: () => client.end(),
  };
}
