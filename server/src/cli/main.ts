import { loadConfigOrExit } from '../config-exit.ts';
import { openDatabase } from '../db/open.ts';
import { runCli } from './run.ts';

/** Entry point of `npm run cli -- <command>`; see ./run.ts for the commands. */
// Settings are checked before any command runs, as the server does at start.
const config = loadConfigOrExit();
process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  openDb: () => openDatabase(config),
});
