import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// A body over the limit is refused as soon as that is known (its Content-Length, or the byte
// that passes the limit), a body that stops arriving gets 408, and the connection is closed
// after the answer so the client stops sending. Raw sockets: fetch would not let us stop halfway.

interface Answer {
  status: number;
  body: string;
  /** The server closed the connection after answering. */
  closed: boolean;
  ms: number;
}

/**
 * Sends `head` and then `chunks` (each written as soon as the previous one is; a number is a pause
 * of that many ms), never finishing
 * the body unless a chunk does; resolves with the first answer once the server has closed the
 * connection or `waitMs` has passed since it answered.
 */
function exchange(port: number, head: string, chunks: (string | number)[] = [], waitMs = 8000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let answeredAt = 0;
    const give = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (!m) return reject(new Error(`no answer within ${waitMs} ms`));
      resolve({ status: Number(m[1]), body: received.slice(received.indexOf('\r\n\r\n') + 4), closed, ms: answeredAt - started });
    };
    const timer = setTimeout(() => give(false), waitMs);
    socket.on('data', (d: Buffer) => {
      if (!answeredAt) answeredAt = Date.now();
      received += d.toString('latin1');
    });
    socket.on('close', () => give(true));
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      socket.write(head);
      for (const c of chunks) {
        if (answeredAt || socket.destroyed) break;
        if (typeof c === 'number') await new Promise((r) => setTimeout(r, c));
        else await new Promise<void>((r) => socket.write(c, () => r()));
      }
    });
  });
}

const chunk = (bytes: number) => `${bytes.toString(16)}\r\n${'x'.repeat(bytes)}\r\n`;

describe('request bodies under MAX_BODY_BYTES=100000, BODY_TIMEOUT_MS=500', () => {
  let s: TestServer;
  let port: number;
  beforeAll(async () => {
    s = await startTestServer({ MAX_BODY_BYTES: '100000', BODY_TIMEOUT_MS: '500' });
    port = Number(new URL(s.baseUrl).port);
  });
  afterAll(async () => {
    await s?.close();
  });

  test('a Content-Length over the limit gets 413 at once, before the body is sent', async () => {
    const a = await exchange(port, 'POST /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 5000000000\r\n\r\n');
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-costly', diagnostics: expect.stringMatching(/larger than the 100000 bytes/) }] });
    expect(a.closed).toBe(true);
  });

  test('the same on an auth form, with its own smaller limit (64 KiB at the token endpoint)', async () => {
    const a = await exchange(port, 'POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 70000\r\n\r\n');
    expect(a.status).toBe(413);
    expect(a.closed).toBe(true);
    // Also on a route that reads no body at all.
    const b = await exchange(port, 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n');
    expect(b.status).toBe(413);
  });

  test('a chunked body gets 413 the moment it passes the limit', async () => {
    const head = 'POST /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n';
    // 11 chunks of 10,000 bytes and then nothing: no end of the body ever comes.
    const a = await exchange(port, head, Array.from({ length: 11 }, () => chunk(10_000)));
    expect(a.status).toBe(413);
    expect(a.closed).toBe(true);
    const form = 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n';
    expect((await exchange(port, form, [chunk(10_000), chunk(10_000)])).status).toBe(413);
  });

  test('a body that stops arriving gets 408 after BODY_TIMEOUT_MS, and the connection is closed', async () => {
    const head = 'POST /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 500\r\n\r\n';
    const a = await exchange(port, head, ['{"resourceType":']);
    expect(a.status).toBe(408);
    expect(JSON.parse(a.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'timeout' }] });
    expect(a.closed).toBe(true);
    expect(a.ms).toBeGreaterThanOrEqual(400);
    expect(a.ms).toBeLessThan(5000);
    const form = 'POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n';
    expect((await exchange(port, form, [chunk(10)])).status).toBe(408);
  });

  test('a body within the limit, sent slowly but steadily, is read as usual', async () => {
    const token = await s.token();
    const json = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Slow' }] });
    const head = `POST /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n`;
    // Pauses shorter than BODY_TIMEOUT_MS between the pieces.
    const slow = [json.slice(0, 20), 300, json.slice(20, 40), 300, json.slice(40)];
    const a = await exchange(port, head, slow, 2000);
    expect(a.status).toBe(201);
  });
});
