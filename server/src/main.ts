import { createServer } from './app.ts';
import { loadConfig } from './config.ts';
import { log } from './log.ts';
import { seedDemo } from './seed/demo.ts';

/** `npm start`: the server with its apps, on PGlite in ./data unless DATABASE_URL is set. */
const started = performance.now();
const config = loadConfig();
const server = await createServer(config);
if (config.seedDemo) await seedDemo(server.db, config);
const http = server.app.listen(config.port, () => {
  log.info('listening', {
    url: config.baseUrl,
    fhir: `${config.baseUrl}/fhir/R4`,
    database: server.db.kind,
    startMs: Math.round(performance.now() - started),
  });
});
const stop = async (): Promise<void> => {
  http.close();
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
