import { describe, expect, it } from 'vitest';
import { BANDED, GAD7_BANDS, PHQ9_BANDS } from '../../apps/outcomes/src/instruments.ts';
import { GAD7, PHQ9 } from '../../server/src/clinical/outcomes/definitions.ts';
import { INSTRUMENTS } from '../../server/src/clinical/scoring/index.ts';

/**
 * The outcomes app draws severity bands and cut-off lines the server does not publish as data
 * (apps/outcomes/src/instruments.ts). They must be the server's own: for every possible total,
 * the band the chart draws it in is the band the server's scoring writes on its Observation, and
 * the remission, caseness and reliable-change lines are the outcome definitions' numbers.
 */
describe('the outcomes chart uses the server’s bands and cut-offs', () => {
  for (const [app, key, rule] of [[PHQ9_BANDS, 'phq-9', PHQ9], [GAD7_BANDS, 'gad-7', GAD7]] as const) {
    it(`${app.name}: every total 0–${app.maxTotal} falls in the server's band`, () => {
      const def = INSTRUMENTS[key];
      expect(app.totalCode).toBe(def.totalCode.code);
      expect(app.maxTotal).toBe(def.maxTotal);
      for (let total = 0; total <= def.maxTotal; total++) {
        const server = def.band(total, { sex: 'unknown', ordinals: new Map(), codes: new Map() });
        const drawn = app.bands.filter((b) => total >= b.min && total <= b.max);
        expect(drawn.map((b) => b.code), `${app.name} ${total}`).toEqual([server.code]);
        // The chart's short label is the start of the server's words ("Moderately severe" of "Moderately severe depression").
        expect(server.display.toLowerCase().startsWith(drawn[0].label.toLowerCase()), `${server.display} / ${drawn[0].label}`).toBe(true);
      }
    });

    it(`${app.name}: remission, caseness and reliable change are the outcome definitions'`, () => {
      expect(app.totalCode).toBe(rule.totalCode);
      expect(app.remissionBelow).toBe(rule.remissionBelow);
      expect(app.casenessAtLeast).toBe(rule.casenessAtLeast);
      expect(app.reliableChange).toBe(rule.reliableChange);
    });
  }

  it('covers exactly the instruments with outcome cut-offs', () => {
    expect(BANDED.map((b) => b.totalCode)).toEqual([PHQ9.totalCode, GAD7.totalCode]);
  });
});
