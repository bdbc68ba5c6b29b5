import net from 'node:net';
import tls from 'node:tls';

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

export class SmtpError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly responseCode?: number,
    readonly response?: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'SmtpError';
  }
  /**
   * The message went out in full (final dot included) and no reply came: a timeout or a dropped
   * connection after that point. The server may have accepted it, so it must not be sent again
   * automatically (RFC 5321 §4.1.1.4 makes the reply to the final dot the only acceptance signal).
   */
  maybeDelivered = false;
  /** The connection could not be opened (refused, greeting or EHLO failed): the relay's failure, not the recipient's. */
  connecting = false;
}

/** Code of the failure of a message this process stopped on shutdown (see SmtpPool.drain/abort). */
export const SHUTDOWN_CODE = 'ESHUTDOWN';

/**
 * Whether a message was stopped by this process shutting down before its final dot went out:
 * nothing of it was delivered, so its delivery goes back to the queue as it was.
 */
export function stoppedUnsent(error: unknown): boolean {
  return error instanceof SmtpError && error.code === SHUTDOWN_CODE && !error.maybeDelivered;
}

interface Reply {
  code: number;
  text: string;
  lines: string[];
}

const END_OF_DATA = Buffer.from('\r\n.\r\n');

type Job = {
  from: string;
  to: string;
  /** Dot-stuffed, CRLF, without the final `.` line; written in order, never copied. */
  data: readonly Buffer[];
  resolve: (response: string) => void;
  reject: (error: Error) => void;
};

class Connection {
  private socket!: net.Socket;
  private buffer = '';
  private lines: string[] = [];
  private waiter: ((reply: Reply | Error) => void) | undefined;
  private closedError: Error | undefined;
  private replyTimer: NodeJS.Timeout | undefined;
  /** The current transaction's final dot has been handed to the kernel. */
  private dotSent = false;
  sent = 0;
  busy = false;
  dead = false;

  constructor(private readonly options: Required<Omit<SmtpPoolOptions, 'url'>> & { host: string; port: number; secure: boolean; user?: string; pass?: string }) {}

  /** Connects, greets, negotiates TLS and authenticates, all within one absolute deadline. */
  open(): Promise<void> {
    return this.within(this.options.transactionTimeoutMs, 'opening the connection', () => this.handshake()).catch((error: unknown) => {
      if (error instanceof SmtpError) error.connecting = true;
      throw error;
    });
  }

  private async handshake(): Promise<void> {
    const { host, port, secure, timeoutMs } = this.options;
    this.socket = await new Promise<net.Socket>((resolve, reject) => {
      const onError = (error: Error) => reject(new SmtpError(`connection to ${host}:${port} failed: ${error.message}`, 'ECONNECTION'));
      const socket = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }, () => resolve(socket)) : net.connect({ host, port }, () => resolve(socket));
      // Known at once, so a deadline that passes during the handshake can destroy it.
      this.socket = socket;
      socket.once('error', onError);
      socket.once('close', () => reject(new SmtpError(`connection to ${host}:${port} closed during the handshake`, 'ECONNECTION')));
      socket.setTimeout(timeoutMs, () => socket.destroy(new SmtpError('connection timed out', 'ETIMEDOUT')));
    });
    this.attach(this.socket);
    await this.expect(await this.read('CONN'), 220, 'CONN');
    let ehlo = await this.command(`EHLO ${this.options.clientName}`, 'EHLO');
    if (ehlo.code !== 250) throw this.failure(ehlo, 'EHLO');
    const offersTls = ehlo.lines.some((l) => /^STARTTLS\b/i.test(l));
    if (!secure && !this.options.allowPlaintext) {
      if (!offersTls) throw new SmtpError('the server offers no STARTTLS; refusing to send in plain text', 'ETLS');
      await this.expect(await this.command('STARTTLS', 'STARTTLS'), 220, 'STARTTLS');
      this.socket.removeAllListeners('data');
      this.socket = await new Promise<net.Socket>((resolve, reject) => {
        const upgraded = tls.connect({ socket: this.socket, servername: net.isIP(host) ? undefined : host }, () => resolve(upgraded));
        upgraded.once('error', (error) => reject(new SmtpError(`TLS failed: ${error.message}`, 'ETLS')));
      });
      this.attach(this.socket);
      ehlo = await this.command(`EHLO ${this.options.clientName}`, 'EHLO');
      if (ehlo.code !== 250) throw this.failure(ehlo, 'EHLO');
    }
    if (this.options.user !== undefined) {
      const mechanisms = ehlo.lines.find((l) => /^AUTH[ =]/i.test(l))?.slice(5).toUpperCase().split(/\s+/) ?? [];
      const user = this.options.user;
      const pass = this.options.pass ?? '';
      let auth: Reply;
      if (mechanisms.includes('LOGIN') && !mechanisms.includes('PLAIN')) {
        await this.expect(await this.command('AUTH LOGIN', 'AUTH LOGIN'), 334, 'AUTH LOGIN');
        await this.expect(await this.command(Buffer.from(user).toString('base64'), 'AUTH LOGIN'), 334, 'AUTH LOGIN');
        auth = await this.command(Buffer.from(pass).toString('base64'), 'AUTH LOGIN');
      } else {
        auth = await this.command(`AUTH PLAIN ${Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64')}`, 'AUTH PLAIN');
      }
      if (auth.code !== 235) throw Object.assign(this.failure(auth, 'AUTH'), { code: 'EAUTH' });
    }
  }

  private attach(socket: net.Socket) {
    socket.setTimeout(this.options.timeoutMs, () => socket.destroy(new SmtpError('connection timed out', 'ETIMEDOUT')));
    socket.on('data', (chunk: Buffer) => this.onData(chunk.toString('latin1')));
    socket.on('error', (error) => this.close(error instanceof SmtpError ? error : new SmtpError(error.message, 'ESOCKET')));
    socket.on('close', () => this.close(new SmtpError('connection closed unexpectedly', 'ECONNECTION')));
  }

  private onData(text: string) {
    this.buffer += text;
    let end: number;
    while ((end = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.lines.push(line);
      // `250-…` continues a multi-line reply; `250 …` ends it.
      if (/^\d{3}(?: |$)/.test(line)) {
        const lines = this.lines;
        this.lines = [];
        const reply: Reply = { code: Number(line.slice(0, 3)), text: lines.join('\n'), lines: lines.map((l) => l.slice(4)) };
        const waiter = this.waiter;
        this.waiter = undefined;
        waiter?.(reply);
      }
    }
  }

  /** The next reply, within the command deadline; past it the connection is closed. */
  private read(command: string): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const ms = this.options.commandTimeoutMs;
      this.replyTimer = setTimeout(() => this.close(new SmtpError(`no complete reply to ${command} within ${ms} ms`, 'ETIMEDOUT', undefined, undefined, command)), ms);
      this.waiter = (reply) => {
        clearTimeout(this.replyTimer);
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      };
    });
  }

  private command(line: string, name: string): Promise<Reply> {
    const reply = this.read(name);
    this.socket.write(`${line}\r\n`);
    return reply;
  }

  /**
   * Runs `work` under an absolute deadline. When it passes, the connection is closed and the
   * result is an ETIMEDOUT, whatever `work` was waiting for (a reply, a TCP or TLS handshake).
   */
  private async within<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new SmtpError(`${what} took longer than ${ms} ms`, 'ETIMEDOUT');
        error.maybeDelivered = this.dotSent;
        this.close(error);
        reject(error);
      }, ms);
    });
    try {
      return await Promise.race([work(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Error codes as nodemailer names them, so both transports' failures read the same: the
   * envelope commands (MAIL, RCPT, DATA) EENVELOPE, authentication EAUTH, anything else in the
   * session EPROTOCOL; the reply to the message itself is EMESSAGE (see send()).
   */
  private failure(reply: Reply, command: string): SmtpError {
    const code = ['MAIL FROM', 'RCPT TO', 'DATA'].includes(command) ? 'EENVELOPE' : command.startsWith('AUTH') ? 'EAUTH' : 'EPROTOCOL';
    return new SmtpError(`${command} failed: ${reply.text}`, code, reply.code, reply.text, command);
  }

  private async expect(reply: Reply, code: number, command: string): Promise<Reply> {
    if (reply.code !== code) throw this.failure(reply, command);
    return reply;
  }

  close(error: Error = new SmtpError('connection closed', 'ECONNECTION')) {
    if (this.dead) return;
    this.dead = true;
    this.closedError = error;
    clearTimeout(this.replyTimer);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(error);
    this.socket?.destroy();
  }

  quit() {
    if (this.dead) return;
    this.socket.end('QUIT\r\n');
    this.dead = true;
  }

  /** One transaction, within the transaction deadline. */
  send(job: Job): Promise<string> {
    return this.within(this.options.transactionTimeoutMs, 'the SMTP transaction', () => this.transaction(job));
  }

  /** A rejected recipient resets the session so the connection stays usable. */
  private async transaction(job: Job): Promise<string> {
    this.sent++;
    this.dotSent = false;
    const mail = await this.command(`MAIL FROM:<${job.from}>`, 'MAIL FROM');
    if (mail.code !== 250) {
      await this.reset(mail);
      throw this.failure(mail, 'MAIL FROM');
    }
    const rcpt = await this.command(`RCPT TO:<${job.to}>`, 'RCPT TO');
    if (rcpt.code !== 250 && rcpt.code !== 251) {
      await this.reset(rcpt);
      throw this.failure(rcpt, 'RCPT TO');
    }
    const data = await this.command('DATA', 'DATA');
    if (data.code !== 354) {
      await this.reset(data);
      throw this.failure(data, 'DATA');
    }
    const reply = this.read('DATA');
    // Once the final dot has left for the kernel, silence or a drop can no longer be told apart
    // from a server that accepted the message and then lost the connection.
    // Corked, the pieces leave in one writev: the edition's shared buffers are not copied.
    this.socket.cork();
    for (const part of job.data) this.socket.write(part);
    this.socket.write(END_OF_DATA, (error) => {
      if (!error) this.dotSent = true;
    });
    this.socket.uncork();
    let accepted: Reply;
    try {
      accepted = await reply;
    } catch (error) {
      if (this.dotSent && error instanceof SmtpError) error.maybeDelivered = true;
      throw error;
    }
    if (accepted.code !== 250) throw Object.assign(this.failure(accepted, 'DATA'), { code: 'EMESSAGE' });
    return accepted.text;
  }

  /** After a refusal: RSET, or give the connection up (421 means the server is closing it, RFC 5321 §3.8). */
  private async reset(refusal: Reply) {
    if (refusal.code === 421) return this.close();
    const reply = await this.command('RSET', 'RSET').catch(() => undefined);
    if (reply?.code !== 250) this.close();
  }
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
