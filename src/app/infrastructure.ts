import type { Config } from '../config.ts';
import { createDatabase, ensureDatabaseExists, type Database } from '../db/database.ts';
import { assertMigrated, migrateToLatest } from '../db/migrate.ts';
import { startCaptureServer } from '../delivery/capture-server.ts';
import { createDigestTransport, type DigestTransport } from '../delivery/digest-transport.ts';
import { DkimSigner } from '../delivery/dkim.ts';
import { createSmtpMailer, plaintextAllowed, type Mailer } from '../delivery/mailer.ts';
import type { Logger } from '../logger.ts';
import { createRedis, Queues } from '../queue/queues.ts';

type Closer = { name: string; close: () => Promise<unknown>; timeoutMs?: number | undefined };

/** Everything a process opened, closed in reverse order by one function. */
export class Resources {
  private readonly closers: Closer[] = [];
  /** `timeoutMs`: how long closing it may take (default closeAll's). */
  add(name: string, close: () => Promise<unknown>, timeoutMs?: number): void {
    this.closers.push({ name, close, timeoutMs });
  }
  async closeAll(log: Logger, timeoutMs = 30_000): Promise<void> {
    for (const { name, close, timeoutMs: own } of this.closers.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(log.warn({ resource: name }, 'close timed out; moving on')), own ?? timeoutMs);
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

export async function openDatabase(config: Config, resources: Resources, options: { migrate: boolean; log?: Logger }): Promise<Database> {
  await ensureDatabaseExists(config.databaseUrl);
  const db = createDatabase(config.databaseUrl, {
    onConnectionError: (error) => options.log?.warn({ err: error.message }, 'a database connection was lost; the next query reconnects'),
  });
  resources.add('database', () => db.destroy());
  // Roles and commands that do not migrate refuse an old schema with a clear message (exit 2)
  // instead of failing later on a missing table.
  if (options.migrate) await migrateToLatest(db);
  else await assertMigrated(db);
  return db;
}

/** The producer side of the queues: fails fast when Redis is down (an API must answer). */
export function openQueues(config: Config, resources: Resources): Queues {
  const producer = createRedis({ url: config.redisUrl, role: 'producer', cluster: config.redisCluster });
  resources.add('redis (producer)', () => producer.quit());
  const queues = new Queues(producer, config.queuePrefix);
  resources.add('queues', () => queues.close());
  return queues;
}

/**
 * The SMTP relay from SMTP_URL, or in development a local capture server whose messages show on
 * /dev/mail (when the port is taken we assume it is another Paperboy process's capture server).
 * Returns general mail (nodemailer) and the digest's transport over the same relay.
 */
export async function openMail(config: Config, db: Database, resources: Resources, log: Logger): Promise<{ mailer: Mailer; transport: DigestTransport; url: string }> {
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
  const deadlines = { commandTimeoutMs: config.smtpCommandTimeoutMs, transactionTimeoutMs: config.smtpTransactionTimeoutMs };
  // One signer for all mail of this process (dkim.ts); none when DKIM_* is unset.
  const dkim = config.dkim ? new DkimSigner(config.dkim) : undefined;
  const mailer = createSmtpMailer({ url, maxConnections: config.smtpMaxConnections, ...deadlines, dkim });
  resources.add('SMTP transport', () => mailer.close());
  const transport = createDigestTransport({
    mailer,
    dkim,
    context: { publicUrl: config.publicUrl, mailFrom: config.mailFrom, listId: config.listId },
    fastPath: { url, maxConnections: config.smtpMaxConnections, allowPlaintext: plaintextAllowed(url), ...deadlines },
  });
  // Closed before the nodemailer transport it falls back to (added after it).
  resources.add('digest SMTP transport', () => transport.close());
  return { mailer, transport, url };
}
