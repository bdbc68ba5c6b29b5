import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface SmtpReply {
  code: number;
  text: string;
}

export interface SmtpResult {
  mail: SmtpReply;
  rcpt: SmtpReply[];
  data?: SmtpReply;
}

export interface SmtpSession {
  /** The reply to EHLO (its lines list the extensions, e.g. STARTTLS). */
  ehlo: SmtpReply;
  /** Whether the session runs over TLS (after starttls()). */
  readonly secure: boolean;
  /** STARTTLS (RFC 3207), then EHLO again over the encrypted connection; returns the 220 or the refusal. */
  starttls(options?: ConnectionOptions): Promise<SmtpReply>;
  /**
   * One message: MAIL FROM, each RCPT, then DATA only if some recipient was accepted; RSET after a
   * refusal. With `pipelining` (and the server offering it) the commands go in one write.
   */
  send(envelope: { from: string; to: string[] }, data: string | Buffer, options?: { pipelining?: boolean }): Promise<SmtpResult>;
  /** QUIT and close. */
  close(): Promise<void>;
}

/**
 * A bare SMTP client over a socket, so a test sees every reply the listener gives (a library
 * client hides a 550 at RCPT behind its own error handling). A session carries any number of
 * messages over one connection, as an MTA with a connection cache does.
 */
export async function openSmtpSession(port: number, options: { localAddress?: string } = {}): Promise<SmtpSession> {
  let socket: Socket | TLSSocket = connect({ port, host: '127.0.0.1', ...options });
  socket.setNoDelay(true);
  // A listener that stops answering fails the call instead of hanging the test.
  socket.setTimeout(60_000, () => socket.destroy(new Error('no reply from the SMTP server within 60 s')));
  let replies = replyReader(socket);
  let secure = false;
  const command = async (line: string): Promise<SmtpReply> => {
    socket.write(`${line}\r\n`);
    return replies.next();
  };
  const greeting = await replies.next();
  if (greeting.code !== 220) {
    socket.destroy();
    throw new Error(`no SMTP greeting: ${greeting.code} ${greeting.text}`);
  }
  const session: SmtpSession = {
    ehlo: await command('EHLO test.example'),
    get secure() {
      return secure;
    },
    async starttls(options = {}) {
      const go = await command('STARTTLS');
      if (go.code !== 220) return go;
      const plain = socket;
      plain.removeAllListeners('data');
      socket = await new Promise<TLSSocket>((resolve, reject) => {
        const upgraded = tlsConnect({ socket: plain, servername: 'localhost', ...options }, () => resolve(upgraded));
        upgraded.once('error', reject);
      });
      socket.setNoDelay(true);
      socket.setTimeout(60_000, () => socket.destroy(new Error('no reply from the SMTP server within 60 s')));
      replies = replyReader(socket);
      secure = true;
      session.ehlo = await command('EHLO test.example');
      return go;
    },
    async send(envelope, data, options = {}) {
      if (options.pipelining && /^250[- ]PIPELINING$/m.test(session.ehlo.text)) return pipelined(envelope, data);
      const mail = await command(`MAIL FROM:<${envelope.from}>`);
      const rcpt: SmtpReply[] = [];
      if (mail.code !== 250) return { mail, rcpt };
      for (const to of envelope.to) rcpt.push(await command(`RCPT TO:<${to}>`));
      if (!rcpt.some((r) => r.code === 250)) {
        await command('RSET');
        return { mail, rcpt };
      }
      const go = await command('DATA');
      if (go.code !== 354) return { mail, rcpt, data: go };
      socket.write(dotStuffed(data));
      return { mail, rcpt, data: await replies.next() };
    },
    async close() {
      await command('QUIT').catch(() => undefined);
      socket.destroy();
    },
  };
  /** RFC 2920: MAIL, the RCPTs and DATA in one write, as MTAs send them, then the replies in order. */
  const pipelined = async (envelope: { from: string; to: string[] }, data: string | Buffer): Promise<SmtpResult> => {
    socket.write([`MAIL FROM:<${envelope.from}>`, ...envelope.to.map((to) => `RCPT TO:<${to}>`), 'DATA'].map((line) => `${line}\r\n`).join(''));
    const mail = await replies.next();
    const rcpt: SmtpReply[] = [];
    for (const _ of envelope.to) rcpt.push(await replies.next());
    const go = await replies.next();
    if (go.code !== 354) return { mail, rcpt, data: go };
    socket.write(dotStuffed(data));
    return { mail, rcpt, data: await replies.next() };
  };
  return session;
}

function dotStuffed(data: string | Buffer): Buffer {
  const body = (Buffer.isBuffer(data) ? data.toString('latin1') : data).replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  return Buffer.from(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1');
}

/** One message over its own connection. */
export async function sendSmtp(port: number, envelope: { from: string; to: string[] }, data: string | Buffer): Promise<SmtpResult> {
  const session = await openSmtpSession(port);
  try {
    return await session.send(envelope, data);
  } finally {
    await session.close();
  }
}

function replyReader(socket: Socket) {
  let buffer = '';
  const waiting: ((reply: SmtpReply) => void)[] = [];
  const ready: SmtpReply[] = [];
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure = error;
    for (const w of waiting.splice(0)) w({ code: 0, text: error.message });
  };
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (;;) {
      // A reply ends with a line "NNN text" (a hyphen after the code means more lines follow).
      const match = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
      if (!match) break;
      const end = match.index + match[0].length;
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end);
      const reply = { code: Number(match[1]), text: text.trim() };
      const next = waiting.shift();
      if (next) next(reply);
      else ready.push(reply);
    }
  });
  socket.on('error', failAll);
  socket.on('close', () => failAll(new Error('connection closed')));
  return {
    next(): Promise<SmtpReply> {
      const reply = ready.shift();
      if (reply) return Promise.resolve(reply);
      if (failure) return Promise.resolve({ code: 0, text: failure.message });
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}
