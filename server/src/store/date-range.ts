/**
 * FHIR dates as instant ranges. A FHIR date/dateTime/instant denotes the whole interval of its
 * precision ("2020-05" is all of May 2020), and search compares ranges
 * (https://hl7.org/fhir/R4/search.html#date). We store and query [low, high) in UTC.
 * A time without a zone is read as UTC: R4 leaves that to the server, and UTC is the one
 * reading that does not change with where the server runs.
 */
const PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface Range {
  low: string;
  high: string;
}

export function dateRange(value: string): Range | undefined {
  const m = PATTERN.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  const hour = h ? Number(h) : 0;
  const minute = mi ? Number(mi) : 0;
  const second = s ? Number(s) : 0;
  if (month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = frac ? Math.floor(Number('0.' + frac) * 1000) : 0;
  const offsetMin = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) : 0;
  const utc = (yy: number, mm: number, dd: number, hh: number, mn: number, ss: number, mss: number): number => {
    const t = new Date(0);
    t.setUTCFullYear(yy, mm, dd);
    t.setUTCHours(hh, mn, ss, mss);
    return t.getTime() - offsetMin * 60_000;
  };
  const start = utc(year, month, day, hour, minute, second, ms);
  let end: number;
  if (!mo) end = utc(year + 1, 0, 1, 0, 0, 0, 0);
  else if (!d) end = utc(year, month + 1, 1, 0, 0, 0, 0);
  else if (!h) end = utc(year, month, day + 1, 0, 0, 0, 0);
  else if (!s) end = start + 60_000;
  else if (!frac) end = start + 1000;
  else end = start + Math.max(1, Math.round(1000 / 10 ** Math.min(frac.length, 3)));
  if (Number.isNaN(start) || Number.isNaN(end)) return undefined;
  return { low: new Date(start).toISOString(), high: new Date(end).toISOString() };
}

export const MIN_INSTANT = '-infinity';
export const MAX_INSTANT = 'infinity';
