/** Words for the server's numbers and dates (formatting only: no number is derived here). */

const dateFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** "Aug 12, 2026" (the reader's locale) for a FHIR date or dateTime. A date-only value is a calendar day, not an instant. */
export function formatDate(value: string | undefined): string {
  if (!value) return '';
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T12:00:00`) : new Date(value);
  return Number.isNaN(d.getTime()) ? value : dateFormat.format(d);
}

export function formatShortDate(ms: number): string {
  return shortDate.format(new Date(ms));
}

/** "−15" / "+3" / "0": a change, with a real minus sign for screen readers and print. */
export function signed(n: number): string {
  if (n === 0) return '0';
  return n > 0 ? `+${n}` : `−${Math.abs(n)}`;
}

/** A server rate (0–1, three decimals) as a percentage with one decimal: 0.667 → "66.7 %" (a no-break space: the sign never wraps alone). */
export function percent(rate: number): string {
  return `${(rate * 100).toFixed(1).replace(/\.0$/, '')}\u00a0%`;
}

/** "1 patient", "3 patients". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
