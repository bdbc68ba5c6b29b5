import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';

export interface SendOutcome {
  messageId: string;
  response: string;
  accepted: string[];
  rejected: string[];
}

/**
 * General mail over nodemailer's pooled SMTP (confirmation emails, and the digest's slow path in
 * digest-transport.ts). Failures are nodemailer errors; smtp-errors.ts classifies them.
 */
export interface Mailer {
  send(message: SendMailOptions): Promise<SendOutcome>;
  /** Sends a message that is already complete MIME (not dot-stuffed), to exactly the envelope given. */
  sendRaw(envelope: { from: string; to: string }, raw: Buffer | string): Promise<{ response: string }>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  url: string;
  maxConnections: number;
}

/**
 * A pooled SMTP transport. maxRequeues is 0 because nodemailer would otherwise re-send a message
 * whose connection dropped mid-DATA by itself, after the server may already have accepted it.
 */
export function createSmtpMailer(options: SmtpOptions): Mailer {
  const transport: Transporter = nodemailer.createTransport({
    url: options.url,
    pool: true,
    maxConnections: options.maxConnections,
    maxMessages: 1000,
    maxRequeues: 0,
    // A local capture server or test sink speaks plain SMTP; real relays set smtps:// or STARTTLS.
    ignoreTLS: plaintextAllowed(options.url),
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  return {
    async send(message) {
      const info = await transport.sendMail(message);
      return {
        messageId: info.messageId,
        response: String(info.response ?? ''),
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
      };
    },
    async sendRaw(envelope, raw) {
      const info = await transport.sendMail({ envelope: { from: envelope.from, to: [envelope.to] }, raw });
      return { response: String(info.response ?? '') };
    },
    async close() {
      transport.close();
    },
  };
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
