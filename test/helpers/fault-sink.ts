import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A scripted SMTP relay on raw sockets, for fault drills. Unlike `smtp-sink.ts` (a well-behaved
 * `smtp-server`), it can misbehave in ways a library server will not: never answer after the
 * final dot, answer one byte at a time, refuse with 4xx for a window of time, or drop the
 * connection right after the message arrived in full.
 *
 * It records every message it received in full (the final dot arrived), whatever it answered,
 * because that is what a real relay could have delivered: counting those per Message-ID is the
 * duplicate detector.
 */
export type AfterDot = 'accept' | 'stall' | 'drop';

export interface FaultScript {
  /** Refuse every new transaction until this time (epoch ms) with `code` (421 closes the connection, as RFC 5321 §3.8 says). */
  refuseUntil?: number;
  refuseCode?: number;
  /** Where the refusal comes: the greeting, MAIL FROM or RCPT TO. */
  refuseAt?: 'greeting' | 'mail' | 'rcpt';
  /** Milliseconds between the bytes of every reply (0 or unset: whole replies). */
  dripMs?: number;
  /** A reply line (e.g. `550 5.7.26 …`) that refuses a recipient at RCPT TO; undefined accepts it. */
  rcptReply?: (address: string) => string | undefined;
  /** What happens once a message arrived in full; default accept. */
  afterDot?: (message: FaultMessage) => AfterDot;
}

export interface FaultMessage {
  messageId: string;
  from: string;
  to: string[];
  bytes: number;
  receivedAt: number;
  outcome: AfterDot;
}

export interface FaultSink {
  port: number;
  url: string;
  /** Change the behaviour at any time; it applies to the next event of every connection. */
  script: FaultScript;
  /** Every message received in full, in order. */
  messages: FaultMessage[];
  /** Messages received in full per Message-ID. */
  byMessageId: Map<string, number>;
  /** Refusals sent (4xx replies from the refusal window). */
  refusals: { at: number; to?: string; code: number }[];
  /** Message-IDs received more than once. */
  duplicates(): [string, number][];
  /** Connections open now. */
  openConnections(): number;
  close(): Promise<void>;
}

const END = '\r\n.\r\n';

export async function startFaultSink(script: FaultScript = {}): Promise<FaultSink> {
  const sockets = new Set<net.Socket>();
  const sink: FaultSink = {
    port: 0,
    url: '',
    script,
    messages: [],
    byMessageId: new Map(),
    refusals: [],
    duplicates: () => [...sink.byMessageId.entries()].filter(([, n]) => n > 1),
    openConnections: () => sockets.size,
    close: async () => {},
  };
  const refusing = () => sink.script.refuseUntil !== undefined && Date.now() < sink.script.refuseUntil;

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    // Replies leave in order even when they drip: each waits for the one before.
    let writing: Promise<void> = Promise.resolve();
    const reply = (text: string, then?: () => void) => {
      writing = writing.then(async () => {
        const bytes = Buffer.from(`${text}\r\n`, 'latin1');
        const drip = sink.script.dripMs ?? 0;
        if (drip <= 0) {
          if (!socket.destroyed) socket.write(bytes);
        } else {
          for (const byte of bytes) {
            if (socket.destroyed) return;
            socket.write(Buffer.of(byte));
            await new Promise((resolve) => setTimeout(resolve, drip));
          }
        }
        then?.();
      });
    };
    const refuse = (to?: string) => {
      const code = sink.script.refuseCode ?? 421;
      sink.refusals.push({ at: Date.now(), to, code });
      if (code === 421) reply('421 4.3.2 Service not available, closing transmission channel', () => socket.end());
      else reply(`${code} 4.3.1 Insufficient system storage, try again later`);
    };

    let buffer = '';
    let inData = false;
    let from = '';
    let to: string[] = [];
    let stalled = false;

    if (refusing() && (sink.script.refuseAt ?? 'mail') === 'greeting') refuse();
    else reply('220 fault-sink.test ESMTP');

    const onLine = (line: string) => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') reply('250-fault-sink.test\r\n250-8BITMIME\r\n250 SIZE 52428800');
      else if (verb === 'HELO') reply('250 fault-sink.test');
      else if (verb === 'MAIL') {
        if (refusing() && (sink.script.refuseAt ?? 'mail') === 'mail') return refuse();
        from = /<([^>]*)>/.exec(line)?.[1] ?? '';
        to = [];
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
        if (refusing() && sink.script.refuseAt === 'rcpt') return refuse(address);
        const refusal = sink.script.rcptReply?.(address);
        if (refusal) return reply(refusal);
        to.push(address);
        reply('250 2.1.5 Ok');
      } else if (verb === 'DATA') {
        if (to.length === 0) return reply('503 5.5.1 No recipients');
        inData = true;
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'RSET') {
        from = '';
        to = [];
        reply('250 2.0.0 Ok');
      } else if (verb === 'NOOP') reply('250 2.0.0 Ok');
      else if (verb === 'QUIT') reply('221 2.0.0 Bye', () => socket.end());
      else reply('502 5.5.2 Command not recognized');
    };

    const onMessage = (data: string) => {
      const header = data.split('\r\n\r\n', 1)[0] ?? '';
      const messageId = /^Message-ID:\s*(\S+)/im.exec(header)?.[1] ?? '(none)';
      const message: FaultMessage = { messageId, from, to, bytes: data.length, receivedAt: Date.now(), outcome: 'accept' };
      message.outcome = sink.script.afterDot?.(message) ?? 'accept';
      sink.messages.push(message);
      sink.byMessageId.set(messageId, (sink.byMessageId.get(messageId) ?? 0) + 1);
      from = '';
      to = [];
      if (message.outcome === 'drop') socket.destroy();
      else if (message.outcome === 'stall') stalled = true; // reads on, answers nothing ever again
      else reply('250 2.0.0 Ok: queued');
    };

    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (stalled) {
          buffer = '';
          return;
        }
        if (inData) {
          // The terminating line may be the very first line of the data (an empty message).
          const end = buffer.startsWith('.\r\n') ? -2 : buffer.indexOf(END);
          if (end === -1) return;
          const data = end === -2 ? '' : buffer.slice(0, end);
          buffer = buffer.slice(end === -2 ? 3 : end + END.length);
          inData = false;
          onMessage(data);
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol === -1) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        onLine(line);
      }
    });
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  sink.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return sink;
}
