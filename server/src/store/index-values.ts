import { decimalText } from '../kernel/json.ts';
import type { IndexRows } from './index-rows.ts';
import { canonical } from './ucum.ts';

// Values as the index rows store them: shared by the general indexer (./indexer.ts) and the
// direct one of derived Observations (./observation-index.ts), which must make the same rows.

/**
 * Lower-case and strip combining accents, as the spec's string matching asks ("Évé" finds "eve").
 * Short texts are remembered: the same displays (an instrument's item texts and answers, a
 * category) come back in every derived Observation, and NFD normalization is most of their indexing.
 */
export function normalizeString(s: string): string {
  let n = normalized.get(s);
  if (n === undefined) {
    n = s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
    if (s.length <= NORMALIZED_MAX_CHARS) {
      if (normalized.size >= NORMALIZED_MAX) normalized.clear();
      normalized.set(s, n);
    }
  }
  return n;
}
const NORMALIZED_MAX = 10_000;
const NORMALIZED_MAX_CHARS = 200;
const normalized = new Map<string, string>();

/**
 * A decimal as the index stores it (numeric): its text as written where the number would lose
 * it (`123456789012345678901234567890`, not 1.2345678901234568e+29; ../kernel/json.ts).
 */
export function exact(holder: { value?: unknown } | undefined): number | string | null {
  if (typeof holder?.value !== 'number') return null;
  return decimalText(holder, 'value') ?? holder.value;
}

export function quantityRow(
  param: string,
  grp: number | null,
  low: number | string | null,
  high: number | string | null,
  system: string | undefined | null,
  code: string | undefined | null,
  unit: string | undefined | null
): IndexRows['quantity'][number] {
  const canon = canonical(system, code);
  return {
    param,
    grp,
    low,
    high,
    system: system ?? null,
    code: code ?? null,
    unit: unit ?? null,
    canonCode: canon?.[0] ?? null,
    // Canonical values are compared in doubles on both sides (search/sql-number.ts).
    canonLow: canon && low !== null ? Number(low) * canon[1] : null,
    canonHigh: canon && high !== null ? Number(high) * canon[1] : null,
  };
}
