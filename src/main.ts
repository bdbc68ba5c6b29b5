import type { Config } from './config.ts';
import { createDatabase, ensureDatabaseExists, type Database } from './db/database.ts';
import { withDevelopmentSecret } from './db/development-secret.ts';
import { assertMigrated, migrateToLatest } from './db/migrate.ts';
import { startCaptureServer } from './delivery/capture-server.ts';
import { createSmtpMailer, type Mailer } from './delivery/mailer.ts';
import type { App } from './http/app.ts';
import { createLogger, type Logger } from './logger.ts';
import { importSampleDataIfEmpty } from './papers/import-file.ts';
import { startDeliveryWorkerLiveness } from './delivery/worker-liveness.ts';
import { createJobHandlers, ensureReconcileSchedule, upsertDailyDigestSchedule, upsertPaperPollSchedule } from './queue/handlers.ts';
import { ARXIV_REQUEST_SPACING_MS } from './papers/sources/arxiv.ts';
import type { QueueName } from './queue/jobs.ts';
import { createRedis, Queues } from './queue/queues.ts';
import { startWorkers } from './queue/workers.ts';

export type Role = 'api' | 'worker' | 'all';

type Closer = { name: string; close: () => Promise<unknown> };

/** Everything a process opened, closed in reverse order by one function. */
export class Resources {
  private readonly closers: Closer[] = [];
  add(name: string, close: () => Promise<unknown>): void {
    this.closers.push({ name, close });
  }
  async closeAll(log: Logger, timeoutMs = 30_000): Promise<void> {
    for (const { name, close } of this.closers.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(log.warn({ resource: name }, 'close timed out; moving on')), timeoutMs);
      });
      try {
        await Promise.race([close(), timeout]);
      } catch (error) {
        log.warn({ resource: name, err: (error as Error).message }, 'close failed');
      } finally {
        clearTimeout(timer);
      }
    }
    this.closers.length = 0;
  }
}

export async function openDatabase(config: Config, resources: Resources, options: { migrate: boolean }): Promise<Database> {
  await ensureDatabaseExists(config.databaseUrl);
  const db = createDatabase(config.databaseUrl);
  resources.add('database', () => db.destroy());
  // Roles and commands that do not migrate refuse an old schema with a clear message (exit 2)
  // instead of failing later on a missing table.
  if (options.migrate) await migrateToLatest(db);
  else await assertMigrated(db);
  return db;
}

/**
 * The SMTP relay from SMTP_URL, or in development a local capture server whose messages show on
 * /dev/mail. When the port is taken we assume it is another Paperboy process's capture server.
 */
export async function openMailer(config: Config, db: Database, resources: Resources, log: Logger): Promise<Mailer> {
  let url = config.smtpUrl;
  if (!url) {
    let port = config.devSmtpPort;
    try {
      const capture = await startCaptureServer(db, config.devSmtpPort);
      resources.add('capture SMTP server', () => capture.close());
      port = capture.port;
      log.info({ port }, 'no SMTP_URL: capturing mail locally, see /dev/mail');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      log.info({ port }, 'capture SMTP port in use: sending to the capture server already running there');
    }
    url = `smtp://127.0.0.1:${port}`;
  }
  const mailer = createSmtpMailer({ url, maxConnections: config.smtpMaxConnections });
  resources.add('SMTP transport', () => mailer.close());
  return mailer;
}

export interface Service {
  /** The config this service runs with (with the database's development secret when SECRET is unset). */
  config: Config;
  app?: App;
  db: Database;
  queues: Queues;
  log: Logger;
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

/** Starts a role. Nothing connects at import time; everything opened here is closed by close(). */
export async function startService(givenConfig: Config, options: ServiceOptions): Promise<Service> {
  const log = options.log ?? createLogger(givenConfig.logLevel);
  const resources = new Resources();
  try {
    const db = await openDatabase(givenConfig, resources, { migrate: options.role === 'all' });
    const config = await withDevelopmentSecret(givenConfig, db);
    if (options.role === 'all' && config.loadSampleData) {
      const summary = await importSampleDataIfEmpty(db);
      if (summary) log.info({ inserted: summary.inserted, invalid: summary.invalid.length }, 'loaded the sample papers');
    }
    const producer = createRedis({ url: config.redisUrl, role: 'producer' });
    resources.add('redis (producer)', () => producer.quit());
    const queues = new Queues(producer, config.queuePrefix);
    resources.add('queues', () => queues.close());

    if (options.role !== 'api') {
      const mailer = await openMailer(config, db, resources, log);
      const workerRedis = createRedis({ url: config.redisUrl, role: 'worker' });
      resources.add('redis (worker)', () => workerRedis.quit());
      const liveness = await startDeliveryWorkerLiveness(db, log, config.delivery.leaseMs);
      resources.add('delivery worker registration', () => liveness.stop());
      const workers = startWorkers(
        createJobHandlers({ config, db, queues, mailer, log, redis: workerRedis, workerId: liveness.id }),
        {
          connection: workerRedis,
          prefix: config.queuePrefix,
          log,
          concurrency: { mail: 5, digest: 2, papers: 1, arxiv: 1, send: 2 },
          lockDurationMs: config.delivery.jobLockMs,
          // arXiv's terms: one request every 3 seconds, shared by every worker of every machine.
          limiters: { arxiv: { max: 1, duration: ARXIV_REQUEST_SPACING_MS } },
        },
        options.workerQueues,
      );
      // Workers close first (added last): they finish the jobs in hand before connections go.
      resources.add('workers', () => workers.close());
      if (options.schedule !== false) {
        await upsertDailyDigestSchedule(queues, config);
        await upsertPaperPollSchedule(queues, config);
      }
      // Recreated when missing, so a flushed Redis still gets its repair job back.
      await ensureReconcileSchedule(queues, config);
      const keeper = setInterval(
        () => void ensureReconcileSchedule(queues, config).catch((error: Error) => log.warn({ err: error.message }, 'could not check the reconcile schedule')),
        Math.max(1_000, config.delivery.reconcileIntervalMs),
      );
      keeper.unref();
      resources.add('reconcile schedule keeper', async () => clearInterval(keeper));
    }

    let app: App | undefined;
    if (options.role !== 'worker') {
      // Loaded only by roles that serve HTTP: a worker process never pays for Fastify and its plugins.
      const { buildApp } = await import('./http/app.ts');
      app = await buildApp({ config, db, queues, log });
      resources.add('http', () => app!.close());
      if (options.listen !== false) await app.listen({ port: config.port, host: config.host });
    }
    return { config, app, db, queues, log, close: () => resources.closeAll(log) };
  } catch (error) {
    await resources.closeAll(log);
    throw error;
  }
}
