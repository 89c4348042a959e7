/** Dates in the person's own locale and time zone. */
export function formatTime(d: Date): string {
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatDay(d: Date): string {
  return d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

/** "in 58 minutes", "12 minutes ago", "3 days ago". */
export function relative(d: Date, now: Date): string {
  const diff = d.getTime() - now.getTime();
  const abs = Math.abs(diff);
  const [value, unit] =
    abs < 3_600_000 ? [Math.max(1, Math.round(abs / 60_000)), 'minute'] : abs < 86_400_000 ? [Math.round(abs / 3_600_000), 'hour'] : [Math.round(abs / 86_400_000), 'day'];
  const words = `${value} ${unit}${value === 1 ? '' : 's'}`;
  return diff >= 0 ? `in ${words}` : `${words} ago`;
}
