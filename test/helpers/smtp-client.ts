import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  text: string;
}

/**
 * A bare SMTP client over a socket, so a test sees every reply the listener gives (a library
 * client hides a 550 at RCPT behind its own error handling): MAIL FROM, each RCPT, then DATA
 * only if some recipient was accepted.
 */
export async function sendSmtp(port: number, envelope: { from: string; to: string[] }, data: string | Buffer): Promise<{ mail: SmtpReply; rcpt: SmtpReply[]; data?: SmtpReply }> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const replies = replyReader(socket);
  try {
    await replies.next(); // greeting
    await command(socket, replies, 'EHLO test.example');
    const mail = await command(socket, replies, `MAIL FROM:<${envelope.from}>`);
    const rcpt: SmtpReply[] = [];
    if (mail.code !== 250) return { mail, rcpt };
    for (const to of envelope.to) rcpt.push(await command(socket, replies, `RCPT TO:<${to}>`));
    if (!rcpt.some((r) => r.code === 250)) return { mail, rcpt };
    const go = await command(socket, replies, 'DATA');
    if (go.code !== 354) return { mail, rcpt, data: go };
    const body = (Buffer.isBuffer(data) ? data.toString('latin1') : data).replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    socket.write(Buffer.from(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1'));
    const done = await replies.next();
    await command(socket, replies, 'QUIT').catch(() => undefined);
    return { mail, rcpt, data: done };
  } finally {
    socket.destroy();
  }
}

async function command(socket: Socket, replies: ReturnType<typeof replyReader>, line: string): Promise<SmtpReply> {
  socket.write(`${line}\r\n`);
  return replies.next();
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
