import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMessage {
  envelopeFrom: string;
  envelopeTo: string[];
  raw: string;
  parsed: ParsedMail;
  /** Raw header lines (unfolded), keyed lower-case, every occurrence kept. */
  headerLines(name: string): string[];
}

export type RcptScript = (address: string) => { code: number; message: string } | undefined;
/** Decides what happens to a message's DATA: accept (undefined), reject with a reply, or drop the connection mid-DATA. */
export type DataScript = (envelopeTo: string[]) => { code: number; message: string } | 'drop' | undefined;

export interface SmtpSink {
  port: number;
  url: string;
  /** Accepted messages, parsed (empty when the sink was started with parse: false). */
  messages: ReceivedMessage[];
  /** Accepted messages per Message-ID header: the duplicate detector. */
  messageIds: Map<string, number>;
  /** Accepted messages per envelope recipient. */
  acceptedTo: Map<string, number>;
  /** RCPT TO commands seen per address, whatever the reply. */
  rcptAttempts: Map<string, number>;
  accepted: number;
  /** Decides the reply to each RCPT TO; undefined accepts. */
  onRcpt: RcptScript | undefined;
  onData: DataScript | undefined;
  to(address: string): ReceivedMessage[];
  close(): Promise<void>;
}

function headerLines(raw: string, name: string): string[] {
  const headerBlock = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = headerBlock.replace(/\r?\n[ \t]+/g, ' ');
  const prefix = `${name.toLowerCase()}:`;
  return unfolded
    .split(/\r?\n/)
    .filter((line) => line.toLowerCase().startsWith(prefix))
    .map((line) => line.slice(prefix.length).trim());
}

const increment = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/**
 * A real SMTP server on a free port that keeps what it accepts. `parse: false` skips mailparser
 * and keeps only Message-IDs and counts, for sends of thousands of messages.
 */
export async function startSmtpSink(options: { parse?: boolean } = {}): Promise<SmtpSink> {
  const parse = options.parse !== false;
  const sink: SmtpSink = {
    port: 0,
    url: '',
    messages: [],
    messageIds: new Map(),
    acceptedTo: new Map(),
    rcptAttempts: new Map(),
    accepted: 0,
    onRcpt: undefined,
    onData: undefined,
    to: (address) => sink.messages.filter((m) => m.envelopeTo.includes(address)),
    close: async () => {},
  };
  const server: SMTPServer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      increment(sink.rcptAttempts, address.address);
      const reply = sink.onRcpt?.(address.address);
      if (reply) callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
      else callback();
    },
    onData(stream, session, callback) {
      const envelopeTo = session.envelope.rcptTo.map((r) => r.address);
      const script = sink.onData?.(envelopeTo);
      const chunks: Buffer[] = [];
      let dropped = false;
      stream.on('data', (chunk: Buffer) => {
        if (script === 'drop' && !dropped) {
          // Mid-DATA: the client has sent part of the message and gets no reply at all.
          dropped = true;
          const connections = (server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }).connections;
          for (const connection of connections) if (connection.id === session.id) connection._socket.destroy();
          return;
        }
        chunks.push(chunk);
      });
      stream.on('end', () => {
        if (dropped) return;
        if (script && script !== 'drop') {
          callback(Object.assign(new Error(script.message), { responseCode: script.code }));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const record = (parsed: ParsedMail | undefined) => {
          const messageId = /^Message-ID:\s*(\S+)/im.exec(raw.split(/\r?\n\r?\n/, 1)[0] ?? '')?.[1] ?? '(none)';
          increment(sink.messageIds, messageId);
          for (const to of envelopeTo) increment(sink.acceptedTo, to);
          sink.accepted++;
          if (parsed) {
            sink.messages.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo,
              raw,
              parsed,
              headerLines: (name) => headerLines(raw, name),
            });
          }
          callback();
        };
        if (!parse) return record(undefined);
        simpleParser(raw).then(record, (error: Error) => callback(error));
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
