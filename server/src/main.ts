import cluster from 'node:cluster';
import { configureHttpServer, createServer } from './app.ts';
import { loadConfigOrExit } from './config-exit.ts';
import { openDatabase } from './db/open.ts';
import { log } from './log.ts';
import { demoSeedRefusal, seedDemo } from './seed/demo.ts';

/**
 * `npm start`: the server, on PGlite in ./data unless DATABASE_URL is set.
 * With PostgreSQL the server runs WORKERS processes (default: one per CPU) sharing the port:
 * nodes are stateless, so this is the same scale-out a load balancer gives across machines.
 * PGlite lives inside one process, so it always runs one.
 */
const started = performance.now();
const config = loadConfigOrExit();
const workers = config.databaseUrl ? config.workers : 1;
const refusal = config.seedDemo ? demoSeedRefusal(config) : undefined;
if (refusal) {
  // Before anything opens: a clear line and a failing exit, not a stack trace.
  log.error(refusal);
  process.exit(1);
}

if (workers > 1 && cluster.isPrimary) {
  // Migrate and seed once, before any worker starts.
  const db = await openDatabase(config);
  if (config.seedDemo) await seedDemo(db, config);
  await db.close();
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      log.error('worker exited; starting another', { pid: worker.process.pid, code, signal });
      cluster.fork();
    }
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log.info('started workers', { workers });
} else {
  const server = await createServer(config);
  if (config.seedDemo && workers === 1) await seedDemo(server.db, config);
  const http = server.app.listen(config.port, () => {
    log.info('listening', {
      url: config.baseUrl,
      fhir: `${config.baseUrl}/fhir/R4`,
      database: server.db.kind,
      startMs: Math.round(performance.now() - started),
    });
  });
  configureHttpServer(http, config);
  http.on('upgrade', server.upgrade);
  const stop = async (): Promise<void> => {
    http.close();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
