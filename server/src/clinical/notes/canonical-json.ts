/**
 * Canonical JSON of a resource for signing: object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as ECMAScript serializes them — the JSON Canonicalization
 * Scheme (RFC 8785) for the values FHIR JSON holds. A verifier canonicalizes the signed version
 * (Provenance.target) the same way and compares it with the JWS payload.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
