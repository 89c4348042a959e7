import { type CSSVariablesResolver, createTheme } from '@mantine/core';

/**
 * Mantine's defaults fail WCAG 2.1 AA contrast (blue.6 and red.6 on white are about 3.5:1, the
 * dimmed gray 3.3:1). Shade 8 of every filled color and a darker "dimmed" keep text and
 * controls at 4.5:1 or better.
 */
export const theme = createTheme({
  primaryColor: 'blue',
  primaryShade: { light: 8, dark: 8 },
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  defaultRadius: 'sm',
});

export const cssVariablesResolver: CSSVariablesResolver = (t) => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': t.colors.gray[7],
    '--mantine-color-error': t.colors.red[9],
    '--mantine-color-anchor': t.colors.blue[8],
    '--mantine-color-placeholder': t.colors.gray[7],
    // Light-variant red (Alert titles and icons on the pale red background): shade 9, 4.5:1 or better.
    '--mantine-color-red-light-color': t.colors.red[9],
  },
  dark: {},
});
