import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import { createSmtpPool, type SmtpPool } from './smtp-pool.ts';

export interface SendOutcome {
  messageId: string;
  response: string;
  accepted: string[];
  rejected: string[];
}

export interface Mailer {
  send(message: SendMailOptions): Promise<SendOutcome>;
  /** Sends a message that is already complete MIME, to exactly the envelope given. */
  sendRaw(envelope: { from: string; to: string }, raw: Buffer | string): Promise<{ response: string }>;
  /**
   * The digest's fast path, when available: `data` is complete MIME that is already CRLF-only and
   * dot-stuffed, written to the connection as it is (see smtp-pool.ts).
   */
  sendStuffed?(envelope: { from: string; to: string }, data: readonly Buffer[]): Promise<{ response: string }>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  url: string;
  maxConnections: number;
  /** Use the pre-stuffed fast path for digests (default true). */
  fastPath?: boolean;
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
    ignoreTLS: isLoopback(options.url) && !options.url.startsWith('smtps:'),
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  const plaintextOk = isLoopback(options.url) && !options.url.startsWith('smtps:');
  // Created on first use: only processes that send digests open these connections.
  let pool: SmtpPool | undefined;
  return {
    ...(options.fastPath === false
      ? {}
      : {
          async sendStuffed(envelope: { from: string; to: string }, data: readonly Buffer[]) {
            pool ??= createSmtpPool({ url: options.url, maxConnections: options.maxConnections, allowPlaintext: plaintextOk });
            return { response: await pool.send(envelope, data) };
          },
        }),
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
      await pool?.close();
    },
  };
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
  } catch {
    return false;
  }
}
