import { decimalText } from '../kernel/json.ts';
import type { IndexRows } from './index-rows.ts';
import { canonical } from './ucum.ts';

// Values as the index rows store them: shared by the general indexer (./indexer.ts) and the
// direct one of derived Observations (./observation-index.ts), which must make the same rows.

/** Lower-case and strip combining accents, as the spec's string matching asks ("Évé" finds "eve"). */
export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

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
