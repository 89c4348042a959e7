/**
 * The one HTML escaper for everything the server writes as HTML: sign-in pages, the home page,
 * rendered notes. OWASP XSS Prevention Cheat Sheet rules 1 and 2: a value placed in element text
 * or a quoted attribute has & < > " ' replaced by entities. Low level: imports nothing.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}
