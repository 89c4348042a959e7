import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { freePort } from '../bench/server-process.ts';

// With WORKERS > 1 the primary starts one worker, then the next once it listens (server/src/serve.ts).
// A first worker that cannot start (here: PostgreSQL without a server key for secrets at rest,
// refused before any connection) must stop the server with a failing exit and its reason said
// once, not be replaced by another that fails the same way, forever.
test('a cluster whose first worker cannot start stops, failing, and says why once', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../server/src/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere',
      SECRET_KEYS: '',
      SECRET_KEYS_FILE: '',
      SECRET_KEYS_GENERATE: 'false',
      WORKERS: '2',
      PORT: String(port),
      BASE_URL: `http://127.0.0.1:${port}`,
      SEED_DEMO: 'false',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after 45 s: ${output.slice(0, 2000)}`));
    }, 45_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(code).toBe(1);
  expect(output.match(/No server key for secrets at rest/g)).toHaveLength(1);
  // The reason as one line, not as a stack trace.
  expect(output).toMatch(/^Configuration error: No server key for secrets at rest/m);
  expect(output).not.toMatch(/^\s+at /m);
  expect(output).toContain('the first worker could not start; stopping');
  expect(output).not.toContain('starting another');
});
