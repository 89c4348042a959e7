import { describe, expect, test } from 'vitest';
import { endpointProblem, resolveEndpoint } from './endpoint-safety.ts';

describe('rest-hook endpoint safety', () => {
  test('https only, except allowed hosts; no credentials, no local names', () => {
    expect(endpointProblem('https://receiver.example.org/hook', [])).toBeUndefined();
    expect(endpointProblem('http://receiver.example.org/hook', [])).toBe('must use https');
    expect(endpointProblem('http://127.0.0.1:8080/hook', ['127.0.0.1'])).toBeUndefined();
    expect(endpointProblem('https://user:pw@receiver.example.org/', [])).toMatch(/credentials/);
    expect(endpointProblem('https://localhost/hook', [])).toMatch(/local host name/);
    expect(endpointProblem('https://localhost./hook', [])).toMatch(/local host name/);
    expect(endpointProblem('https://[::1]/hook', [])).toMatch(/private/);
    expect(endpointProblem('ftp://receiver.example.org/', [])).toBe('must use https');
    expect(endpointProblem('not a url', [])).toBe('is not an absolute URL');
  });

  test('at send time every resolved address is checked; an allowed host may resolve anywhere', async () => {
    await expect(resolveEndpoint(new URL('https://169.254.169.254/latest'), [])).rejects.toThrow(/private/);
    await expect(resolveEndpoint(new URL('http://localhost:1/x'), ['localhost'])).resolves.toMatchObject({ address: expect.any(String) });
  });
});
