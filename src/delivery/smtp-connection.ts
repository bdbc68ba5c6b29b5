import net from 'node:net';
import tls from 'node:tls';
import type { SmtpPoolOptions } from './smtp-pool.ts';

/**
 * One SMTP connection of the pool in src/delivery/smtp-pool.ts: the session (greeting, EHLO,
 * STARTTLS, AUTH), its reply parser and deadlines, and one transaction at a time. The failures
 * are SmtpErrors, shaped like nodemailer's so the same classifier reads them.
 */
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

/** One message waiting for, or under way on, a connection. */
export type Job = {
  from: string;
  to: string;
  /** Dot-stuffed, CRLF, without the final `.` line; written in order, never copied. */
  data: readonly Buffer[];
  resolve: (response: string) => void;
  reject: (error: Error) => void;
};

export class Connection {
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
