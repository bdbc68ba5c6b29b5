import { buildDigestMessage, preferencesUrl, prepareEdition, unsubscribeUrl, type MessageContext, type PreparedEdition } from './digest-message.ts';
import { assembleSignedDigestParts, compileDigestMime, type CompiledDigest } from './digest-mime.ts';
import { joinLayout } from '../editions/digest-splice.ts';
import type { HtmlLayout } from '../editions/variant.table.ts';
import type { DkimSigner } from './dkim.ts';
import type { Mailer } from './mailer.ts';
import { createSmtpPool, type SmtpPool } from './smtp-pool.ts';

/** The edition content a digest is made of (a row of `editions`, or the same fields). */
export interface DigestContent {
  /** The edition's id (it names the Message-ID); a variant of it also has its own id. */
  id: number;
  variantId?: number | null;
  subject: string;
  /** The whole HTML: an edition, or a variant stored before parts; null when `layout` holds it. */
  html_template: string | null;
  /** A variant's HTML: its layout and every part the layout names (digest-splice.ts). */
  layout?: { items: HtmlLayout; parts: ReadonlyMap<string, string> } | undefined;
  text_template: string;
}

/** The whole HTML of a digest's content (for the rare message the full MIME builder makes). */
export function contentHtml(content: DigestContent): string {
  if (content.html_template !== null) return content.html_template;
  if (!content.layout) throw new Error(`edition ${content.id}: neither HTML nor a layout`);
  return joinLayout(content.layout.items, content.layout.parts);
}

/** One person's digest: the edition and what makes it theirs. */
export interface DigestMessage {
  edition: DigestContent;
  subscriberId: number;
  email: string;
  unsubscribeToken: string;
  preferencesToken: string;
  /** Listed after the URL in List-Unsubscribe (RFC 2369) when bounces come back to us (verp.ts). */
  mailtoUnsubscribe?: string | undefined;
}

export interface DigestEnvelope {
  from: string;
  to: string;
}

/**
 * How a digest reaches the SMTP relay. One call per message; whether it travels the pre-built
 * fast path (smtp-pool.ts) or nodemailer, and whether it is dot-stuffed on the way, is decided
 * here and nowhere else. Both paths end in smtp-pool.ts, so both have its absolute deadlines and
 * its "maybe delivered" rule after the final dot. Failures carry nodemailer's error fields for
 * smtp-errors.ts.
 */
export interface DigestTransport {
  send(envelope: DigestEnvelope, message: DigestMessage): Promise<{ response: string }>;
  /** Shutdown: messages not started fail as stopped unsent; those under way go on (SmtpPool.drain). */
  drain(): void;
  /** Shutdown past the grace period: cut every connection (SmtpPool.abort). */
  abort(): void;
  close(): Promise<void>;
}

export interface DigestTransportOptions {
  /** nodemailer: the slow path (and everything when `fastPath` is absent). */
  mailer: Mailer;
  context: MessageContext;
  /** The digest's own pooled SMTP client, fed the edition's pre-built, pre-stuffed MIME. */
  fastPath?: { url: string; maxConnections: number; allowPlaintext: boolean; commandTimeoutMs?: number; transactionTimeoutMs?: number };
  /** Signs every digest (dkim.ts); the fallback path signs through the mailer. */
  dkim?: DkimSigner | undefined;
}

interface CompiledEdition {
  compiled: CompiledDigest;
  /** For the full MIME builder, made only when an address needs it (rare): a second copy of the templates otherwise. */
  prepared(): PreparedEdition;
}

/**
 * Only a handful of editions and variants are in flight at once (ledger rows are ordered by
 * variant); the least recently used go first, so memory does not grow with a send's variants.
 */
const EDITIONS_KEPT = 32;

export function createDigestTransport(options: DigestTransportOptions): DigestTransport {
  const { mailer, context, fastPath, dkim } = options;
  const dotStuffed = fastPath !== undefined;
  const editions = new Map<string, CompiledEdition>();
  // Opened on the first digest: only processes that send digests open these connections.
  let pool: SmtpPool | undefined;

  const compiledFor = (edition: DigestContent): CompiledEdition => {
    const key = `${edition.id}/${edition.variantId ?? ''}`;
    let found = editions.get(key);
    if (found) {
      editions.delete(key);
    } else {
      // The MIME of the whole edition is built once per process; per message only splicing.
      let prepared: PreparedEdition | undefined;
      found = { compiled: compileDigestMime(edition, context, { dotStuffed, ...(dkim ? { dkim } : {}) }), prepared: () => (prepared ??= prepareEdition({ ...edition, html_template: contentHtml(edition) })) };
      if (editions.size >= EDITIONS_KEPT) editions.delete(editions.keys().next().value!);
    }
    editions.set(key, found);
    return found;
  };

  return {
    async send(envelope, message) {
      const { compiled, prepared } = compiledFor(message.edition);
      const recipient = {
        subscriberId: message.subscriberId,
        email: message.email,
        values: {
          UNSUBSCRIBE_URL: unsubscribeUrl(context.publicUrl, message.unsubscribeToken),
          PREFERENCES_URL: preferencesUrl(context.publicUrl, message.preferencesToken),
        },
        mailtoUnsubscribe: message.mailtoUnsubscribe,
      };
      // Signed here when DKIM is configured: the signing runs on libuv's thread pool.
      const assembled = await assembleSignedDigestParts(compiled, recipient);
      if (assembled && fastPath) {
        pool ??= createSmtpPool(fastPath);
        return { response: await pool.send(envelope, assembled.parts) };
      }
      if (assembled) return mailer.sendRaw(envelope, Buffer.concat(assembled.parts));
      // An address that cannot go into a header as it is takes the full MIME builder instead.
      const bounce = message.mailtoUnsubscribe ? { returnPath: envelope.from, mailtoUnsubscribe: message.mailtoUnsubscribe } : undefined;
      const { response } = await mailer.send(buildDigestMessage(prepared(), message, context, bounce));
      return { response };
    },
    drain: () => pool?.drain(),
    abort: () => pool?.abort(),
    async close() {
      await pool?.close();
    },
  };
}
