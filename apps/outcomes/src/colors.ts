/**
 * Colours for good and bad news (badges, alerts, chart markers and cut-off lines) that keep text at
 * WCAG AA contrast (4.5:1 or better) on white and on the light band fills; Mantine's green and red
 * shades 6–8 do not, as filled badges or as light-variant alert titles.
 */
export const GOOD = '#1e6b30';
export const BAD = '#a61e1e';
export const NEUTRAL = '#343a40';
