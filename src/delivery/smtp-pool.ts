import { Connection, SHUTDOWN_CODE, SmtpError, type Job } from './smtp-connection.ts';

/**
 * A small pooled SMTP client for the digest's hot path. The digest's MIME is built, CRLF-normalised
 * and dot-stuffed once per edition, so a message goes to the socket as it is: no per-byte escaping
 * stream per message, which is where a general-purpose client spends most of its CPU on a 70 kB
 * message. Anything else (confirmation emails, odd addresses) keeps using nodemailer.
 *
 * Failures carry `code`, `responseCode`, `response` and `command` like nodemailer's, so the same
 * classifier reads them. A message is never retried here: the ledger decides (a dropped
 * connection after DATA may or may not have delivered it).
 */
export interface SmtpPoolOptions {
  url: string;
  maxConnections: number;
  /** Messages per connection before it is closed and replaced. */
  maxMessages?: number;
  /** Name sent in EHLO. */
  clientName?: string;
  /** An idle pooled connection is closed after this long. */
  timeoutMs?: number;
  /**
   * Absolute deadline for one reply, from the command to the last byte of its answer. The idle
   * timeout alone is not enough: a server that drips a byte now and then resets it forever.
   */
  commandTimeoutMs?: number;
  /** Absolute deadline for a whole transaction (MAIL FROM to the reply after the final dot), and for opening a connection. */
  transactionTimeoutMs?: number;
  /** Plain SMTP to a loopback test sink or capture server; everything else negotiates TLS. */
  allowPlaintext?: boolean;
}

export interface SmtpPool {
  /** `data` must be CRLF-only and dot-stuffed; the terminating `.` line is added here. */
  send(envelope: { from: string; to: string }, data: readonly Buffer[]): Promise<string>;
  /**
   * Shutdown, first step: messages still waiting for a connection fail with ESHUTDOWN (never
   * started), and so does every later send; transactions under way go on to their reply.
   */
  drain(): void;
  /**
   * Shutdown, when the grace period is over: every connection is cut. A transaction whose final
   * dot had gone out fails as "maybe delivered"; one before it, as stopped unsent (ESHUTDOWN).
   */
  abort(): void;
  close(): Promise<void>;
}

export function createSmtpPool(options: SmtpPoolOptions): SmtpPool {
  const url = new URL(options.url);
  const secure = url.protocol === 'smtps:';
  const settings = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (secure ? 465 : 587)),
    secure,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    pass: url.password ? decodeURIComponent(url.password) : undefined,
    maxConnections: options.maxConnections,
    maxMessages: options.maxMessages ?? 1000,
    clientName: options.clientName ?? 'localhost',
    timeoutMs: options.timeoutMs ?? 60_000,
    commandTimeoutMs: options.commandTimeoutMs ?? 60_000,
    transactionTimeoutMs: options.transactionTimeoutMs ?? 120_000,
    allowPlaintext: options.allowPlaintext ?? false,
  };
  const idle: Connection[] = [];
  const queue: Job[] = [];
  let open = 0;
  /** Connections being opened (counted in `open` too). */
  let opening = 0;
  let closed = false;
  let draining = false;
  /** Every connection not yet closed, busy or idle, for abort(). */
  const live = new Set<Connection>();
  const stopped = () => new SmtpError('not sent: this process is shutting down', SHUTDOWN_CODE);

  const pump = () => {
    while (queue.length > 0) {
      let connection = idle.pop();
      while (connection && (connection.dead || connection.sent >= settings.maxMessages)) {
        connection.quit();
        open--;
        live.delete(connection);
        connection = idle.pop();
      }
      if (connection) {
        run(connection, queue.shift()!);
        continue;
      }
      if (open >= settings.maxConnections) return;
      open++;
      opening++;
      const fresh = new Connection(settings);
      live.add(fresh);
      const job = queue.shift()!;
      fresh.open().then(
        () => {
          opening--;
          run(fresh, job);
        },
        (error: Error) => {
          open--;
          opening--;
          live.delete(fresh);
          fresh.close();
          job.reject(error);
          // The relay refused a new connection and none is established: the messages waiting
          // for one would only knock in turn on the same closed door (a 421 outage would cost a
          // refusal per message), so they fail with it and their sender backs off (retry.ts).
          if (open === opening && error instanceof SmtpError && error.connecting) {
            for (const waiting of queue.splice(0)) waiting.reject(error);
          }
          pump();
        },
      );
    }
  };

  const run = (connection: Connection, job: Job) => {
    connection.busy = true;
    connection.send(job).then(
      (response) => {
        connection.busy = false;
        job.resolve(response);
        release(connection);
      },
      (error: Error) => {
        connection.busy = false;
        job.reject(error);
        release(connection);
      },
    );
  };

  const release = (connection: Connection) => {
    if (connection.dead || closed) {
      if (!connection.dead) connection.quit();
      open--;
      live.delete(connection);
    } else idle.push(connection);
    pump();
  };

  return {
    send(envelope, data) {
      if (draining) return Promise.reject(stopped());
      if (closed) return Promise.reject(new SmtpError('the pool is closed', 'ECONNECTION'));
      return new Promise((resolve, reject) => {
        queue.push({ from: envelope.from, to: envelope.to, data, resolve, reject });
        pump();
      });
    },
    drain() {
      draining = true;
      for (const job of queue.splice(0)) job.reject(stopped());
    },
    abort() {
      draining = true;
      for (const job of queue.splice(0)) job.reject(stopped());
      for (const connection of live) connection.close(stopped());
    },
    async close() {
      closed = true;
      for (const connection of idle.splice(0)) connection.quit();
      for (const job of queue.splice(0)) job.reject(new SmtpError('the pool is closed', 'ECONNECTION'));
    },
  };
}
