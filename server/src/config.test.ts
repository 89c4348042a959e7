import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig checks every setting at start', () => {
  test.each([
    ['PORT', 'abc', /PORT must be a whole number from 0 to 65535, not "abc"/],
    ['PORT', '70000', /PORT must be a whole number from 0 to 65535/],
    ['PORT', '80.5', /PORT must be a whole number/],
    ['DB_POOL_SIZE', '0', /DB_POOL_SIZE must be a whole number from 1 to 1000/],
    ['MAX_BODY_BYTES', '1e6', /MAX_BODY_BYTES must be a whole number at least 1, not "1e6"/],
    ['MAX_BODY_BYTES', '-5', /MAX_BODY_BYTES must be a whole number at least 1/],
    ['BODY_TIMEOUT_MS', '0', /BODY_TIMEOUT_MS must be a whole number at least 1/],
    ['SYSTEM_TOKEN_SECONDS', '900', /SYSTEM_TOKEN_SECONDS must be a whole number from 1 to 300/],
    ['TOKEN_RATE_LIMIT_PER_IP', 'lots', /TOKEN_RATE_LIMIT_PER_IP must be a whole number at least 0/],
    ['SEED_DEMO', 'yes', /SEED_DEMO must be "true" or "false", not "yes"/],
    ['SECRET_KEYS_GENERATE', '1', /SECRET_KEYS_GENERATE must be "true" or "false"/],
    ['LOG_LEVEL', 'debug', /LOG_LEVEL must be "info" or "error" or "silent"/],
    ['BASE_URL', 'localhost:8080', /BASE_URL must be a http or https URL/],
    ['BASE_URL', 'ftp://example.org', /BASE_URL must be a http or https URL/],
    ['DATABASE_URL', 'mysql://db/x', /DATABASE_URL must be a postgres or postgresql URL/],
    ['SUBSCRIPTION_ALLOWED_HOSTS', 'localhost,http://x', /SUBSCRIPTION_ALLOWED_HOSTS must be comma-separated host names or IP addresses; "http:\/\/x"/],
    ['TRUST_PROXY', 'true', /TRUST_PROXY must be a hop count or comma-separated IP addresses or CIDR ranges/],
    ['TRUST_PROXY', '10.0.0.0/33', /TRUST_PROXY must be a hop count/],
    ['BREAK_GLASS_MINUTES', '2000', /BREAK_GLASS_MINUTES must be a whole number from 1 to 1440/],
    ['REACH_EPISODE_DAYS', 'ninety', /REACH_EPISODE_DAYS must be a whole number/],
  ])('%s=%s is refused, naming the variable and what it allows', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  test('good values are parsed; empty ones mean the default', () => {
    const c = loadConfig({
      PORT: '9090',
      BASE_URL: 'https://fhir.example.org/',
      MAX_BODY_BYTES: '1024',
      SEED_DEMO: 'false',
      DB_POOL_SIZE: '',
      SUBSCRIPTION_ALLOWED_HOSTS: 'localhost, 127.0.0.1,[::1]',
      TRUST_PROXY: '10.0.0.0/8, 192.168.1.7, loopback',
    });
    expect(c).toMatchObject({ port: 9090, baseUrl: 'https://fhir.example.org', maxBodyBytes: 1024, seedDemo: false, dbPoolSize: 10 });
    expect(c.subscriptionAllowedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(c.trustProxy).toEqual(['10.0.0.0/8', '192.168.1.7', 'loopback']);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({}).trustProxy).toBe(0);
    expect(loadConfig({}).bodyTimeoutMs).toBe(30_000);
  });
});

describe('a bad setting stops the start with one line, no stack trace', () => {
  const run = (script: string, args: string[] = []) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, script), ...args], {
        // BASE_URL: vitest puts Vite's '/' into process.env.
        env: { ...process.env, BASE_URL: '', PORT: 'abc', DATABASE_URL: '', DATA_DIR: 'memory', LOG_LEVEL: 'error' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.once('exit', (code) => resolve({ code, stderr }));
    });

  test.each([
    ['the server', 'main.ts', []],
    ['the CLI', 'cli/main.ts', ['tenant', 'list']],
  ])('%s exits 1', async (_name, script, args) => {
    const { code, stderr } = await run(script, args);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('Configuration error: PORT must be a whole number from 0 to 65535, not "abc"');
  }, 60_000);
});
