import react from '@vitejs/plugin-react';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { defineConfig } from 'vite';
import presetMantine from 'postcss-preset-mantine';
import simpleVars from 'postcss-simple-vars';

/**
 * One multi-page build for all apps: every `apps/<name>/index.html` (the app and its SMART
 * redirect page) and `launch.html` (EHR launch) is an entry, so React, Mantine and Medplum are
 * shared chunks the browser caches once for every app. Output: apps/dist/<name>/..., served by the
 * server at /apps/<name>/.
 */
const root = fileURLToPath(new URL('.', import.meta.url));
export const APPS = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'index.html')))
  .map((d) => d.name);

const input: Record<string, string> = {};
for (const app of APPS) {
  input[`${app}/index`] = join(root, app, 'index.html');
  if (existsSync(join(root, app, 'launch.html'))) input[`${app}/launch`] = join(root, app, 'launch.html');
}

export default defineConfig({
  root,
  base: '/apps/',
  plugins: [react()],
  css: {
    postcss: {
      plugins: [
        presetMantine(),
        // Mantine's breakpoints as variables: its CSS uses them in media queries.
        simpleVars({
          variables: {
            'mantine-breakpoint-xs': '36em',
            'mantine-breakpoint-sm': '48em',
            'mantine-breakpoint-md': '62em',
            'mantine-breakpoint-lg': '75em',
            'mantine-breakpoint-xl': '88em',
          },
        }),
      ],
    },
  },
  build: {
    outDir: join(root, 'dist'),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input,
      onwarn(warning, warn) {
        // fhirclient's isomorphic-webcrypto shim mixes CommonJS into an ES module; harmless in browsers.
        if (warning.code === 'COMMONJS_VARIABLE_IN_ESM') return;
        warn(warning);
      },
    },
  },
  logLevel: 'warn',
});
