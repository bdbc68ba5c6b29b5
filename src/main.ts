import { createJobHandlers } from './app/handlers.ts';
import { createStopSignal, drainWorkers } from './app/shutdown.ts';
import { retryDelayMs } from './delivery/retry.ts';
import { openDatabase, openMail, openQueues, Resources } from './app/infrastructure.ts';
import { startScheduleKeeper } from './app/schedules.ts';
import { createServices, type AppServices } from './app/services.ts';
import type { Config } from './config.ts';
import { startupWarnings } from './config/startup-warnings.ts';
import type { Database } from './db/database.ts';
import { withDevelopmentSecret } from './db/development-secret.ts';
import { startDeliveryWorkerLiveness } from './delivery/worker-liveness.ts';
import type { App } from './http/app.ts';
import { createLogger, wantsPrettyLogs, type Logger } from './logger.ts';
import { buildEditionsForFeaturedDays } from './editions/edition.service.ts';
import { renderMjmlInChildProcess } from './email/mjml-renderer.ts';
import { importSampleDataIfEmpty } from './papers/import-file.ts';
import { ARXIV_REQUEST_SPACING_MS } from './papers/sources/arxiv.ts';
import type { QueueName } from './queue/jobs.ts';
import type { Queues } from './queue/queues.ts';
import { createRedis } from './queue/queues.ts';
import { startWorkers } from './queue/workers.ts';
import { instrumentHandlers, instrumentMailer, instrumentTransport } from './ops/instrument.ts';
import { createServiceMetrics } from './ops/metrics.ts';
import { createOpsEndpoints, startOpsServer, type OpsEndpoints } from './ops/ops-endpoints.ts';
import { postgresProbe, redisProbe, smtpProbe, type ReadinessProbe } from './ops/readiness.ts';

/** `inbound`: the bounce domain's MX (src/inbound/), without workers or HTTP. */
export type Role = 'api' | 'worker' | 'all' | 'inbound';

export interface Service {
  /** The config this service runs with (with the database's development secret when SECRET is unset). */
  config: Config;
  app?: App;
  db: Database;
  queues: Queues;
  services: AppServices;
  log: Logger;
  /** /healthz, /readyz and /metrics of this process, whichever listener serves them. */
  ops: OpsEndpoints;
  /** The port of the separate ops listener, when METRICS_PORT is set. */
  opsPort?: number;
  /** The inbound mail listener's port (role inbound, or all with BOUNCE_DOMAIN set). */
  inboundPort?: number;
  close(): Promise<void>;
}

export interface ServiceOptions {
  role: Role;
  log?: Logger;
  /** Only these queues get workers (default all); the CLI's `send` runs just the digest queue. */
  workerQueues?: QueueName[];
  schedule?: boolean;
  listen?: boolean;
}

/**
 * Starts a role: the composition root. Infrastructure, feature services, job handlers, schedules
 * and the HTTP app are built here once (pieces in src/app/); nothing connects at import time, and
 * everything opened here is closed by close().
 */
export async function startService(givenConfig: Config, options: ServiceOptions): Promise<Service> {
  const log = options.log ?? createLogger(givenConfig.logLevel, 'paperboy', undefined, { pretty: wantsPrettyLogs(givenConfig.env, process.stdout.isTTY) });
  const resources = new Resources();
  try {
    const db = await openDatabase(givenConfig, resources, { migrate: options.role === 'all', log });
    const config = await withDevelopmentSecret(givenConfig, db);
    for (const warning of startupWarnings(config)) log.warn(`WARNING: ${warning}`);
    if (options.role === 'all' && config.loadSampleData) {
      const summary = await importSampleDataIfEmpty(db);
      if (summary) {
        log.info({ inserted: summary.inserted, invalid: summary.invalid.length }, 'loaded the sample papers');
        // The sample days are long past: their editions are what would have been sent, and the
        // archive and feeds have something to show on a first run.
        const built = await buildEditionsForFeaturedDays(db, { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers });
        log.info({ editions: built }, 'built the editions of the sample days');
      }
    }
    const queues = openQueues(config, resources);
    const services = createServices({ config, db, queues, log });
    const probes: ReadinessProbe[] = [postgresProbe(db), redisProbe(queues.connection)];

    if (options.role === 'worker' || options.role === 'all') {
      if (options.role === 'worker' && options.workerQueues === undefined) {
        // The long-lived worker renders MJML in a child process that exits when idle, so MJML's
        // ~80 MB are not kept for the worker's life (src/email/mjml-renderer.ts, issue #10). The
        // api and all roles and commands such as `send` (workerQueues set, they exit when done)
        // render in-process. Added before the workers: closed after they drained, jobs render to
        // the end.
        const renderer = renderMjmlInChildProcess();
        resources.add('MJML renderer process', () => renderer.close());
      }
      const opened = await openMail(config, db, resources, log);
      const mailer = instrumentMailer(opened.mailer);
      const transport = instrumentTransport(opened.transport);
      // A sending role that cannot reach its relay is not ready (digests would only pile up retries).
      probes.push(smtpProbe(opened.url));
      const workerRedis = createRedis({ url: config.redisUrl, role: 'worker', cluster: config.redisCluster });
      resources.add('redis (worker)', () => workerRedis.quit());
      const liveness = await startDeliveryWorkerLiveness(db, log, config.delivery.leaseMs);
      resources.add('delivery worker registration', () => liveness.stop());
      const stop = createStopSignal();
      const workers = startWorkers(
        instrumentHandlers(createJobHandlers({ config, db, queues, log, services, mailer, transport, redis: workerRedis, workerId: liveness.id, stop })),
        {
          connection: workerRedis,
          prefix: config.queuePrefix,
          log,
          concurrency: { mail: 5, digest: 2, papers: 1, arxiv: 1, send: 2 },
          lockDurationMs: config.delivery.jobLockMs,
          // Mail jobs (confirmations) back off like deliveries do (jobs.ts, retry.ts).
          backoffStrategy: (attemptsMade) => retryDelayMs(attemptsMade, config.delivery),
          // arXiv's terms: one request every 3 seconds, shared by every worker of every machine.
          limiters: { arxiv: { max: 1, duration: ARXIV_REQUEST_SPACING_MS } },
        },
        options.workerQueues,
      );
      // Workers close first (added last): they finish the jobs in hand, within the shutdown
      // grace period, before connections go (shutdown.ts).
      resources.add(
        'workers',
        () => drainWorkers({ stop, workers, transports: [transport, mailer], graceMs: config.shutdownGraceMs, log }),
        config.shutdownGraceMs + 10_000,
      );
      // Schedules live in Redis, which may lose them: re-asserted now and periodically, and a
      // digest missed meanwhile is caught up from Postgres (src/app/schedules.ts).
      const keeper = await startScheduleKeeper(
        { queues, config, log, db, requestDailyDigest: services.requestDailyDigest, deliverDue: services.deliverDue },
        { timetable: options.schedule !== false },
      );
      resources.add('schedule keeper', () => keeper.stop());
    }

    const ops = createOpsEndpoints({ role: options.role, probes, metrics: createServiceMetrics({ db, queues, log }), metricsToken: config.metricsToken });
    let opsPort: number | undefined;
    if (config.metricsPort !== undefined && options.listen !== false) {
      const server = await startOpsServer(ops, { port: config.metricsPort, host: config.host, log, metrics: true });
      resources.add('ops listener', () => server.close());
      opsPort = server.port;
    }

    let inboundPort: number | undefined;
    if (options.role === 'inbound' || options.role === 'all' || (options.role === 'worker' && options.workerQueues === undefined)) {
      // The listener where BOUNCE_DOMAIN is set (inbound, all); the processor's sweep everywhere
      // (webhook reports are processed by the API at once, and swept up here after a crash).
      const { startInbound } = await import('./inbound/inbound-service.ts');
      const inbound = await startInbound(config, db, log, { listen: options.listen !== false && options.role !== 'worker' });
      resources.add('inbound listener', () => inbound.close());
      if (inbound.port) inboundPort = inbound.port;
    }

    let app: App | undefined;
    if (options.role === 'api' || options.role === 'all') {
      // Loaded only by roles that serve HTTP: a worker process never pays for Fastify and its plugins.
      const { buildApp } = await import('./http/app.ts');
      app = await buildApp({ config, db, redis: queues.connection, queues, services, log, ops: { endpoints: ops, metricsHere: config.metricsPort === undefined } });
      // Closed first: no new connections, and requests under way finish (bounded by the grace period).
      resources.add('http', () => app!.close(), config.shutdownGraceMs);
      if (options.listen !== false) await app.listen({ port: config.port, host: config.host });
    }
    return { config, app, db, queues, services, log, ops, opsPort, inboundPort, close: () => resources.closeAll(log) };
  } catch (error) {
    await resources.closeAll(log);
    throw error;
  }
}

/**
 * What a CLI command that changes delivery needs without running workers: the database, the
 * producer queues and the services (e.g. `resume`, which only enqueues).
 */
export async function openCommandContext(givenConfig: Config, log: Logger): Promise<{ db: Database; services: AppServices; close(): Promise<void> }> {
  const resources = new Resources();
  try {
    const db = await openDatabase(givenConfig, resources, { migrate: false });
    const config = await withDevelopmentSecret(givenConfig, db);
    const queues = openQueues(config, resources);
    return { db, services: createServices({ config, db, queues, log }), close: () => resources.closeAll(log) };
  } catch (error) {
    await resources.closeAll(log);
    throw error;
  }
}
