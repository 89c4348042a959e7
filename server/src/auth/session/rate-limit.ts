/**
 * Sign-in attempt limits per client IP and per username (OWASP Authentication Cheat Sheet,
 * "Protect against automated attacks"), beside the per-account lockout (users/, in the
 * database). Counted in fixed windows in the database (../rate-limit.ts), shared by every
 * server process and node.
 */

/** Per IP: generous, a clinic may sit behind one NAT address. Per username: a few per minute. */
export const LOGIN_LIMIT_PER_IP = 60;
export const LOGIN_LIMIT_PER_USERNAME = 20;
export const LOGIN_WINDOW_MS = 5 * 60_000;
