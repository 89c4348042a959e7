import cluster from 'node:cluster';
import module from 'node:module';
import { loadConfigOrExit, orExitOnConfigError } from './config-exit.ts';
import { withHeapFlags } from './heap-flags.ts';
import { collectFromWorkers, serveWorkersMetrics } from './http/metrics-cluster.ts';
import { followRebalance, rebalanceOnJoin } from './http/rebalance.ts';
import { shutdown } from './http/shutdown.ts';
import { log } from './log.ts';

/**
 * `npm start` (through main.ts): the server, on PGlite in ./data unless DATABASE_URL is set.
 * With PostgreSQL the server runs WORKERS processes (default: one per CPU) sharing the port:
 * nodes are stateless, so this is the same scale-out a load balancer gives across machines.
 * PGlite lives inside one process, so it always runs one.
 */
const started = performance.now();
/** Beyond the drain: storing the audit buffer, sealing, closing the database. */
const CLOSE_MS = 5000;
const config = loadConfigOrExit();
const workers = config.databaseUrl ? config.workers : 1;
// Only when asked for: the demo clinic's seeding reaches most of the server's modules, which a
// cluster's primary otherwise never loads.
const demo = config.seedDemo ? await import('./seed/demo.ts') : undefined;
const refusal = demo?.demoSeedRefusal(config);
if (refusal) {
  // Before anything opens: a clear line and a failing exit, not a stack trace.
  log.error(refusal);
  process.exit(1);
}

if (workers > 1 && cluster.isPrimary) {
  // One scrape for all workers (http/metrics-cluster.ts): on METRICS_PORT here, or on the public
  // port (METRICS_TOKEN) through whichever worker is asked.
  serveWorkersMetrics();
  // A worker that starts listening gets its share of the connections already open (http/rebalance.ts).
  rebalanceOnJoin();
  let stopping = false;
  // Workers get the compile cache (main.ts) from their first line: even main.ts is then read
  // from it, and Node never loads its TypeScript stripper in a worker.
  const cacheDir = module.getCompileCacheDir?.();
  const workerEnv = cacheDir ? { NODE_COMPILE_CACHE: cacheDir } : undefined;
  // Workers run with the server's V8 heap settings (heap-flags.ts) however the primary was
  // started: they hold the data and the load, the primary neither.
  cluster.setupPrimary({ execArgv: withHeapFlags(process.execArgv) });
  // One worker at a time, each forked once the one before listens. The first migrates (and seeds
  // the demo clinic) alone, as a single process would, and answers as soon as it is ready; the
  // primary never opens the database. Started together on 2 cores the workers loaded the FHIR
  // definitions side by side, after the primary's own migration check, and the first answer
  // waited for all of it (bench:start, WORKERS=2: 2.4–2.6 s against 1.7 s for one process).
  let toStart = workers - 1;
  let listened = false;
  cluster.on('listening', () => {
    listened = true;
    if (toStart > 0 && !stopping) {
      toStart--;
      cluster.fork(workerEnv);
    }
  });
  cluster.fork(workerEnv);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    // A server that cannot start (database unreachable, a secret key missing) stops with the
    // worker's code instead of starting the same failure again and again; the worker said why.
    if (!listened) {
      log.error('the first worker could not start; stopping', { pid: worker.process.pid, code, signal });
      process.exit(code || 1);
    }
    log.error('worker exited; starting another', { pid: worker.process.pid, code, signal });
    cluster.fork(workerEnv);
  });
  // Loaded only when asked for: it brings express, a tenth of a second of the primary's start.
  const metricsServer = config.metricsPort ? (await import('./http/metrics-endpoint.ts')).listenForMetrics(config.metricsPort, collectFromWorkers) : undefined;
  // Each worker drains itself (http/shutdown.ts); the primary waits for them, bounded, and never
  // replaces a worker that is stopping. A worker still running past the bound is killed.
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    metricsServer?.close();
    const running = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    const exits = running.map((w) => new Promise<number | null>((resolve) => w.process.once('exit', (code) => resolve(code))));
    for (const w of running) w.process.kill('SIGTERM');
    const bound = config.shutdownDelayMs + config.shutdownTimeoutMs + CLOSE_MS;
    const timer = setTimeout(() => {
      log.error('workers still running after the shutdown bound; killing them', { boundMs: bound });
      for (const w of running) w.process.kill('SIGKILL');
    }, bound);
    const codes = await Promise.all(exits);
    clearTimeout(timer);
    const clean = codes.every((c) => c === 0);
    log.info('stopped workers', { workers: running.length, clean });
    process.exit(clean ? 0 : 1);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  log.info('started workers', { workers });
} else {
  // Loaded here, not at the top: the cluster's primary only migrates, forks and supervises, and
  // need not hold the whole server (its modules and the FHIR definitions) in memory.
  const { configureHttpServer, createServer } = await import('./app.ts');
  const server = await orExitOnConfigError(createServer(config));
  followRebalance(server.lifecycle);
  // In a cluster every worker asks, one at a time (above): the first finds the database empty.
  if (demo) await demo.seedDemo(server.db, config);
  const http = server.app.listen(config.port, () => {
    log.info('listening', {
      baseUrl: config.baseUrl,
      fhir: `${config.baseUrl}/fhir/R4`,
      database: server.db.kind,
      startMs: Math.round(performance.now() - started),
    });
    // What this start compiled is kept for the next one (main.ts); it would be written at exit anyway.
    module.flushCompileCache?.();
  });
  configureHttpServer(http, config);
  http.on('upgrade', server.upgrade);
  // In a cluster the primary serves METRICS_PORT for all workers.
  const metricsServer = config.metricsPort && !cluster.isWorker ? (await import('./http/metrics-endpoint.ts')).listenForMetrics(config.metricsPort, server.metrics) : undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    metricsServer?.close();
    try {
      await shutdown(http, server.lifecycle, () => server.close(), { timeoutMs: config.shutdownTimeoutMs, delayMs: config.shutdownDelayMs });
      process.exit(0);
    } catch (err) {
      log.error('shutdown failed', { name: (err as Error)?.name, code: (err as { code?: string }).code });
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
