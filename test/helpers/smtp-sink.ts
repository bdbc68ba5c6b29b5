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

export interface SmtpSink {
  port: number;
  url: string;
  messages: ReceivedMessage[];
  /** Decides the reply to each RCPT TO; undefined accepts. */
  onRcpt: RcptScript | undefined;
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

/** A real SMTP server on a free port that keeps and parses what it accepts. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const sink: SmtpSink = {
    port: 0,
    url: '',
    messages: [],
    onRcpt: undefined,
    to: (address) => sink.messages.filter((m) => m.envelopeTo.includes(address)),
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const reply = sink.onRcpt?.(address.address);
      if (reply) callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            sink.messages.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              raw,
              parsed,
              headerLines: (name) => headerLines(raw, name),
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
