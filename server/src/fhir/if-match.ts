import { fail } from '../kernel/outcome.ts';

/**
 * If-Match (https://hl7.org/fhir/R4/http.html#concurrency, RFC 9110 §13.1.1) as this server takes
 * it: one entity tag, weak or strong (`W/"3"`, `"3"`), or `*` (the resource must exist). Returns the
 * tag's value (the version it names), or undefined when there is no header.
 *
 * A header that is there but is not one such tag is a 400: read leniently (as a regex hunting for
 * quotes does) it would count as "no precondition" and let the write through, so a client's
 * lost-update protection would silently vanish. An empty tag (`W/""`) names no version: also 400.
 */
export function parseIfMatch(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  if (value === '*') return '*';
  const m = ETAG.exec(value);
  if (!m) {
    fail('invalid', `If-Match '${shown(value)}' is not an ETag: send one version as W/"<versionId>" (the ETag of the version read)`, 'If-Match');
  }
  if (m[1] === '') fail('invalid', `If-Match '${shown(value)}' names no version: send W/"<versionId>"`, 'If-Match');
  return m[1];
}

/** One entity tag: optional weak prefix, then etagc characters (no quote, no control, no space) in quotes. */
const ETAG = /^(?:W\/)?"([\x21\x23-\x7e]{0,64})"$/;

/** The header as named in a message: short, printable. */
function shown(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 40 ? `${printable.slice(0, 40)}…` : printable;
}
