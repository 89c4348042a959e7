/**
 * LHC-Forms (npm `lforms`, NLM), the independent SDC implementation the extraction tests compare
 * against. Only its prebuilt browser bundles are used, inside headless Chromium. Installing the
 * package the usual way pulls its whole Angular toolchain (npm resolution alone ran > 15 minutes
 * here), so this fetches the published tarball with `npm pack`, checks it against the registry's
 * pinned sha512, and unpacks it to node_modules/lforms. Runs before the tests (npm `pretest`);
 * does nothing when the right version is already there.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const VERSION = '40.1.3';
const INTEGRITY = 'sha512-WLruTm+BcVnafC0rSAQ3/cNqhxvclBUxyBG68aub/uha2NaK9H8ZZcEXTTuORuGzzCt0wa7fvhuieZtcDIdPzQ==';
const ROOT = join(import.meta.dirname, '../..');
export const LFORMS_DIR = join(ROOT, 'node_modules/lforms');

export function ensureLforms(): string {
  const pkg = join(LFORMS_DIR, 'package.json');
  if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version === VERSION) return LFORMS_DIR;
  const tmp = mkdtempSync(join(tmpdir(), 'lforms-'));
  try {
    const name = execFileSync('npm', ['pack', `lforms@${VERSION}`, '--pack-destination', tmp, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop() as string;
    const tarball = join(tmp, name);
    const digest = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (digest !== INTEGRITY) throw new Error(`lforms ${VERSION}: tarball integrity ${digest} does not match the registry's ${INTEGRITY}`);
    rmSync(LFORMS_DIR, { recursive: true, force: true });
    mkdirSync(LFORMS_DIR, { recursive: true });
    execFileSync('tar', ['xzf', tarball, '-C', LFORMS_DIR, '--strip-components=1']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return LFORMS_DIR;
}

if (process.argv[1] === import.meta.filename) {
  console.log(`lforms ${VERSION} at ${ensureLforms()}`);
}
