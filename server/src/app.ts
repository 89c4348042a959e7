import express from 'express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { auditTrailFor } from './audit/audit-trail.ts';
import { authRouter, authenticate } from './auth/index.ts';
import { loadSigningKeys } from './auth/keys.ts';
import { onRevocation } from './auth/revocation-channel.ts';
import { loadInstrumentsForAllTenants } from './clinical/instruments/index.ts';
import { useSigningKeys } from './clinical/notes/signing-keys.ts';
import { installProfilesEverywhere } from './clinical/profiles/install.ts';
import type { Loop } from './background.ts';
import { installRiskDefaultsEverywhere, startRiskEscalation } from './clinical/risk/index.ts';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/open.ts';
import { keepStatistics } from './db/statistics.ts';
import { loadDefinitions } from './kernel/definitions.ts';
import { loadValueSets } from './kernel/valuesets.ts';
import { fhirHttp } from './fhir/http.ts';
import { outcome } from './kernel/outcome.ts';
import { createFhirRouter } from './fhir/routes.ts';
import { accessLog } from './http/access-log.ts';
import { appsRouter } from './http/apps.ts';
import { corsForApps } from './http/cors.ts';
import { type Lifecycle, healthRouter } from './http/health.ts';
import { homeRouter } from './http/home.ts';
import { serverMetrics } from './http/server-metrics.ts';
import { metricsRouter } from './http/metrics-endpoint.ts';
import type { Sample } from './http/metrics.ts';
import { guardBodies } from './ingress/body-guard.ts';
import { securityHeaders } from './http/security-headers.ts';
import { forgetSubscriberPolicies } from './subscriptions/events.ts';
import { startBulkExport } from './bulk/worker.ts';
import { startSubscriptions } from './subscriptions/index.ts';
import { writeHooks } from './write-hooks.ts';

/**
 * Assembles the server: database (migrated), definitions, signing keys, the SMART endpoints and
 * the FHIR REST API. Returns the express app without listening, so tests and main.ts share it.
 */
export interface Server {
  app: express.Express;
  db: Database;
  config: Config;
  /** The time durable timers compare with (tests move it: test/support/server.ts). */
  clock: Clock;
  /** Background loops (each also runs on its own interval; tests call runOnce()). */
  loops: { risk: Loop; subscriptions: Loop; bulkExport: Loop; bulkExportSweep: Loop };
  /** Shutdown state and requests in flight (http/shutdown.ts drives it; /readyz reads it). */
  lifecycle: Lifecycle;
  /** This process's metrics samples (main.ts serves them on METRICS_PORT). */
  metrics(): Promise<Sample[]>;
  /** Give it the HTTP server's 'upgrade' events (subscription websockets); anything else is refused. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export interface ServerOptions {
  clock?: Clock;
}

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { name: string; version: string };

export async function createServer(config: Config, db?: Database, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  loadDefinitions();
  // Required bindings are checked against these on every write: load them now, not in the first write.
  loadValueSets();
  const database = db ?? (await openDatabase(config));
  const keys = await loadSigningKeys(database);
  // The server clock and write hooks reach auth for break-glass windows and notices (auth/break-glass).
  const deps = { db: database, config, keys, clock, hooks: writeHooks };
  // Notes are signed with the server's key (clinical/notes); profiles are copied into each tenant.
  useSigningKeys(`${config.baseUrl}/fhir/R4`, keys);
  await installProfilesEverywhere(database);
  // The shipped instruments (questionnaires/) in every tenant; a changed file under an existing
  // version stops the start (clinical/instruments).
  await loadInstrumentsForAllTenants(database);
  // The crisis-risk rule set and crisis resources, in every tenant that has never had them (clinical/risk).
  await installRiskDefaultsEverywhere(database);

  // From here on every statement of the server's work is bounded (start-up installs above may take
  // longer on a large database; migrations ran when the database was opened).
  database.setStatementTimeout(config.statementTimeoutMs);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');
  // Whose X-Forwarded-For to believe (TRUST_PROXY): req.ip is then the client's address for rate
  // limits, sign-in throttles and AuditEvents; by default no proxy is trusted.
  app.set('trust proxy', config.trustProxy);
  app.locals.config = config;
  // First, so every request is counted, timed and logged once (http/access-log.ts).
  const lifecycle: Lifecycle = { draining: false, inFlight: 0 };
  const metrics = serverMetrics(database, lifecycle);
  app.use(accessLog(metrics.registry, lifecycle));
  app.use(securityHeaders);
  // Oversized and stalled request bodies are answered before anything reads them (ingress/).
  app.use(guardBodies({ maxBytes: config.maxBodyBytes, idleMs: config.bodyTimeoutMs }));
  // CORS for registered SMART app origins on the FHIR API and the token back channel (http/cors.ts).
  // The paths the routers below are mounted at (auth/index.ts: /auth/token, /auth/introspect, /auth/revoke).
  app.use(corsForApps(database, clock, { fhirBase: '/fhir/R4', backChannel: ['/auth/token', '/auth/introspect', '/auth/revoke'] }));
  app.use(authRouter(deps));
  // Durable $export jobs run in the background (bulk/); a kick-off wakes the worker.
  const background = { db: database, config, clock, fhirBase: `${config.baseUrl}/fhir/R4` };
  const bulkExport = startBulkExport(background);
  app.use(
    '/fhir/R4',
    fhirHttp({
      db: database,
      config,
      router: createFhirRouter(),
      authenticate: (header) => authenticate(deps, header),
      software: { name: pkg.name, version: pkg.version },
      wakeExport: bulkExport.wake,
    })
  );
  app.use(appsRouter(config.appsDir));
  // `/`: sign-in, the apps, and the developer entry points (http/home.ts).
  app.use(homeRouter({ db: database, config }));
  // Probes and operator metrics (http/health.ts, http/metrics-endpoint.ts).
  app.use(healthRouter(database, lifecycle));
  app.use(metricsRouter(config.metricsToken, metrics.scrape));
  // Anything unmatched is a plain 404 OperationOutcome.
  app.use((req, res) => {
    res.status(404).type('application/fhir+json').send(JSON.stringify(outcome('not-found', `No route for ${req.method} ${req.path}`)));
  });
  // AuditEvents a crashed process committed but never sealed are chained now (audit/hash-chain.ts).
  auditTrailFor(database).scheduleSeal();
  const stopStatistics = config.statisticsIntervalMs > 0 ? keepStatistics(database, config.statisticsIntervalMs) : () => undefined;
  // Durable timers and the subscription outbox live in the database: any process may run them.
  const risk = startRiskEscalation(background, writeHooks);
  const subscriptions = startSubscriptions(background);
  // A revoked grant (an account disabled or re-roled) is judged again at the next delivery, not
  // when the subscriber's cached policy expires. Returns the unsubscribe for close().
  const stopForgetting = onRevocation(forgetSubscriberPolicies);
  return {
    app,
    db: database,
    config,
    clock,
    loops: { risk, subscriptions: subscriptions.loop, bulkExport: bulkExport.loop, bulkExportSweep: bulkExport.sweeper },
    lifecycle,
    metrics: metrics.local,
    upgrade(req, socket, head) {
      if (!subscriptions.upgrade(req, socket, head)) socket.destroy();
    },
    close: async () => {
      stopStatistics();
      stopForgetting();
      await risk.stop();
      await subscriptions.close();
      // Running exports hand their jobs back (progress kept) for the next start to resume.
      await bulkExport.close();
      // Buffered AuditEvents are stored and the chain sealed before the database goes.
      await auditTrailFor(database).close();
      await database.close();
    },
  };
}

/**
 * Settings of the HTTP server itself, for every place that creates one (main.ts, the tests'):
 * REQUEST_TIMEOUT_MS bounds the time to receive a whole request (Node answers 408 and closes);
 * headers get at most a minute of it.
 */
export function configureHttpServer(server: HttpServer, config: Config): void {
  server.requestTimeout = config.requestTimeoutMs;
  server.headersTimeout = Math.min(60_000, config.requestTimeoutMs);
}
