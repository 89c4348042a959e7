/**
 * Badge colours dark enough for white 11–14 px text at WCAG AA 4.5:1 (Mantine's green.9 on white
 * text is about 4.2:1): green 8.2:1, blue 8.0:1, red 8.3:1, gray 8.6:1.
 */
export const BADGE = { green: '#1b5e20', blue: '#0b4f8a', red: '#9b1c1c', gray: '#3f454b' } as const;
