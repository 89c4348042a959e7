import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../constant-time.ts';

/**
 * TOTP, RFC 6238 (https://www.rfc-editor.org/rfc/rfc6238) over HOTP, RFC 4226 §5.3:
 * HMAC-SHA-1, 6 digits, 30-second steps from the Unix epoch. Verification accepts one step
 * either side for clock drift (RFC 6238 §5.2 recommends at most one step of network delay);
 * the caller refuses a step at or before the last one used (§5.2: "the verifier MUST NOT
 * accept the second attempt of the OTP after the successful validation").
 */
export const STEP_SECONDS = 30;
const DIGITS = 6;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, no padding: how authenticator apps expect the secret. */
export function base32Encode(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(s: string): Buffer | undefined {
  const clean = s.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const i = ALPHABET.indexOf(ch);
    if (i < 0) return undefined;
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** 160-bit secret, the HMAC-SHA-1 key length RFC 4226 §4 recommends. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

export function isTotpSecret(s: string): boolean {
  const key = base32Decode(s);
  return key !== undefined && key.length >= 10;
}

export function totpAt(secret: string, step: number): string {
  const key = base32Decode(secret);
  if (!key) throw new Error('TOTP secret is not base32');
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  // RFC 4226 §5.3 dynamic truncation.
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** DIGITS;
  return String(bin).padStart(DIGITS, '0');
}

export function currentStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / STEP_SECONDS);
}

/** The current code (CLI `totp`, tests). */
export function totpNow(secret: string, nowMs: number = Date.now()): string {
  return totpAt(secret, currentStep(nowMs));
}

/** The step (within ±1 of now) whose code matches, or undefined. Compares every candidate. */
export function matchingStep(secret: string, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = currentStep(nowMs);
  let found: number | undefined;
  for (const step of [now - 1, now, now + 1]) {
    if (constantTimeEqual(totpAt(secret, step), code) && found === undefined) found = step;
  }
  return found;
}

/** otpauth:// URI (Google Authenticator Key Uri Format) for enrolment by QR or link. */
export function otpauthUri(secret: string, issuer: string, account: string): string {
  const label = encodeURIComponent(`${issuer}:${account}`);
  const q = new URLSearchParams({ secret, issuer, algorithm: 'SHA1', digits: String(DIGITS), period: String(STEP_SECONDS) });
  return `otpauth://totp/${label}?${q.toString()}`;
}
