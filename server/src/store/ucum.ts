/**
 * A small UCUM normalizer for quantity search: units that differ only by a metric prefix or a
 * fixed factor are compared in one canonical unit, so `value-quantity=1|http://unitsofmeasure.org|g`
 * finds `1000 mg` (https://hl7.org/fhir/R4/search.html#quantity, "canonical units").
 * Units we do not know are compared as written (system + code), which is always allowed.
 * Factors from the UCUM specification (https://ucum.org/ucum), base units of its tables.
 */
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

const TABLE: Record<string, [string, number]> = {
  // mass → g
  kg: ['g', 1000], g: ['g', 1], mg: ['g', 1e-3], ug: ['g', 1e-6], ng: ['g', 1e-9], '[lb_av]': ['g', 453.59237], '[oz_av]': ['g', 28.349523125],
  // length → m
  km: ['m', 1000], m: ['m', 1], cm: ['m', 0.01], mm: ['m', 0.001], '[in_i]': ['m', 0.0254], '[ft_i]': ['m', 0.3048],
  // volume → L
  L: ['L', 1], l: ['L', 1], dL: ['L', 0.1], mL: ['L', 1e-3], uL: ['L', 1e-6],
  // time → s
  s: ['s', 1], min: ['s', 60], h: ['s', 3600], d: ['s', 86400], wk: ['s', 604800], a: ['s', 31557600], ms: ['s', 1e-3],
  // mass concentration → g/L
  'g/L': ['g/L', 1], 'g/dL': ['g/L', 10], 'mg/dL': ['g/L', 0.01], 'mg/L': ['g/L', 1e-3], 'ug/L': ['g/L', 1e-6], 'ng/mL': ['g/L', 1e-6],
  // substance concentration → mol/L
  'mol/L': ['mol/L', 1], 'mmol/L': ['mol/L', 1e-3], 'umol/L': ['mol/L', 1e-6],
  // pressure → Pa
  'mm[Hg]': ['Pa', 133.322], kPa: ['Pa', 1000], Pa: ['Pa', 1],
};

export function canonical(system: string | undefined | null, code: string | undefined | null): [string, number] | undefined {
  if (system !== UCUM_SYSTEM || !code) return undefined;
  return TABLE[code];
}
