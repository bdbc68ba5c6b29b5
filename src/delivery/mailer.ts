import type { SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { createSmtpPool, type SmtpPool } from './smtp-pool.ts';
import type { DkimSigner } from './dkim.ts';

export interface SendOutcome {
  messageId: string;
  response: string;
  accepted: string[];
  rejected: string[];
}

/**
 * General mail (confirmation emails, and the digest's slow path in digest-transport.ts).
 * Failures are SmtpErrors with nodemailer's field names; smtp-errors.ts classifies them.
 */
export interface Mailer {
  send(message: SendMailOptions): Promise<SendOutcome>;
  /** Sends a message that is already complete MIME (not dot-stuffed), to exactly the envelope given. */
  sendRaw(envelope: { from: string; to: string }, raw: Buffer | string): Promise<{ response: string }>;
  /** Shutdown: fail what waits for a connection, let transactions under way finish (SmtpPool.drain). */
  drain(): void;
  /** Shutdown past the grace period: cut every connection (SmtpPool.abort). */
  abort(): void;
  close(): Promise<void>;
}

export interface SmtpOptions {
  url: string;
  maxConnections: number;
  /** Absolute deadline for one SMTP reply (see smtp-pool.ts). */
  commandTimeoutMs?: number;
  /** Absolute deadline for one whole transaction, and for opening a connection. */
  transactionTimeoutMs?: number;
  /** Signs what `send` sends (confirmation mail, digests the fast path cannot take). */
  dkim?: DkimSigner | undefined;
}

/**
 * Every message, digest or not, goes through one SMTP client (smtp-pool.ts), so every send has
 * the same absolute deadlines and the same rule after the final dot: no reply means "maybe
 * delivered" (`SmtpError.maybeDelivered`), never an automatic re-send. nodemailer composes the
 * MIME of everything that is not a pre-built digest; it no longer talks SMTP itself, because its
 * timeouts are idle timeouts (a server dripping a byte at a time resets them forever) and its
 * errors do not say whether the final dot had gone out.
 */
export function createSmtpMailer(options: SmtpOptions): Mailer {
  // Opened on first use: only processes that send mail open connections.
  let pool: SmtpPool | undefined;
  const smtp = () =>
    (pool ??= createSmtpPool({
      url: options.url,
      maxConnections: options.maxConnections,
      allowPlaintext: plaintextAllowed(options.url),
      commandTimeoutMs: options.commandTimeoutMs,
      transactionTimeoutMs: options.transactionTimeoutMs,
    }));
  const sendRaw = async (envelope: { from: string; to: string }, raw: Buffer | string) => ({
    response: await smtp().send(envelope, [toSmtpData(raw)]),
  });
  return {
    sendRaw,
    async send(message) {
      const mime = new MailComposer(message as ConstructorParameters<typeof MailComposer>[0]).compile();
      const envelope = mime.getEnvelope();
      const from = envelope.from || '';
      const to = envelope.to ?? [];
      if (to.length !== 1) throw new Error(`a message goes to exactly one recipient here, got ${to.length}`);
      const built = await mime.build();
      const { response } = await sendRaw({ from, to: to[0]! }, options.dkim ? await signComposed(options.dkim, built) : built);
      return { messageId: mime.messageId(), response, accepted: [to[0]!], rejected: [] };
    },
    drain: () => pool?.drain(),
    abort: () => pool?.abort(),
    async close() {
      await pool?.close();
    },
  };
}

/**
 * Complete MIME → what goes between DATA and the final dot: CRLF line ends, a leading dot
 * doubled (RFC 5321 §4.5.2), and no line break at the very end (the final `\r\n.\r\n` adds it).
 */
export function toSmtpData(raw: Buffer | string): Buffer {
  // Bytes, not characters: latin1 maps each byte to one code unit and back unchanged.
  const text = (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw).toString('latin1').replace(/\r?\n/g, '\r\n').replace(/\r\n$/, '');
  return Buffer.from(text.replace(/^\./, '..').replace(/\r\n\./g, '\r\n..'), 'latin1');
}

/**
 * nodemailer's own DKIM option signs RSA only and leaves List-Unsubscribe-Post out of h=; the
 * message is built by its composer and signed by dkim.ts before it goes out raw.
 */
async function signComposed(dkim: DkimSigner, built: Buffer): Promise<Buffer> {
  // The composer leaves bare LFs in text bodies; the signer must hash the message as it travels
  // (RFC 6376 §5.3), CRLF line ends as toSmtpData sends them, so normalise first.
  return dkim.signMessage(Buffer.from(built.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
}

/** Plain SMTP only to a loopback capture server or test sink; everything else negotiates TLS. */
export function plaintextAllowed(url: string): boolean {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname;
    return parsed.protocol !== 'smtps:' && (host === 'localhost' || host.startsWith('127.') || host === '[::1]');
  } catch {
    return false;
  }
}
