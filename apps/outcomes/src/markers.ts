import type { InstrumentSummary } from './parameters.ts';

/**
 * The points `$mbc-summary` says something about: the baseline (its first counted score) and the
 * latest score, with the outcome flags the server set for the change between them (response,
 * remission, reliable improvement or deterioration). The flags are the server's booleans; only
 * their words are chosen here.
 */
export interface Marker {
  kind: 'baseline' | 'latest';
  date: string;
  value: number;
  /** What is marked, one line each: "Baseline", or "Response", "Remission", ... */
  words: string[];
  tone: 'neutral' | 'good' | 'bad';
}

export function outcomeWords(s: InstrumentSummary): string[] {
  const words: string[] = [];
  if (s.response) words.push('Response');
  if (s.remission) words.push('Remission');
  if (s.reliableImprovement) words.push('Reliable improvement');
  if (s.reliableDeterioration) words.push('Reliable deterioration');
  return words;
}

export function markersOf(s: InstrumentSummary): Marker[] {
  if (!s.baselineDate) return [];
  const markers: Marker[] = [{ kind: 'baseline', date: s.baselineDate, value: s.baseline, words: ['Baseline'], tone: 'neutral' }];
  if (s.assessments >= 2 && s.latestDate) {
    const words = outcomeWords(s);
    markers.push({
      kind: 'latest',
      date: s.latestDate,
      value: s.latest,
      words: words.length ? words : ['Latest'],
      tone: s.reliableDeterioration ? 'bad' : words.length ? 'good' : 'neutral',
    });
  }
  return markers;
}
