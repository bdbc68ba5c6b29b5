import { createHash, type Hash } from 'node:crypto';
import { encodeWords, foldLines, isPlainText } from 'nodemailer/lib/mime-funcs';
import { splitTemplate } from '../email/templates.ts';
import type { DkimSigner, PreparedHeaders } from './dkim.ts';
import { digestMessageId, type MessageContext } from './digest-message.ts';
import type { DigestContent } from './digest-transport.ts';
import { dotStuff, encodeLayout, encodeSharedPiece } from './encoded-pieces.ts';
import { encodePiece, encodeSplicedValue } from './quoted-printable.ts';

/**
 * The digest as MIME, built once per edition: headers, boundaries and quoted-printable bodies are
 * encoded here, and a recipient's message is a string join of these pieces and a few encoded
 * values (To, Message-ID, Date, the unsubscribe link). No MIME tree is built per message.
 */
export interface CompiledDigest {
  readonly editionId: number;
  readonly envelopeFrom: string;
  readonly messageIdDomain: string;
  /** Header text between the per-recipient header fields (ASCII bytes, ready to concatenate). */
  readonly head: readonly [Buffer, Buffer, Buffer, Buffer];
  /** Encoded body pieces, and the value name spliced after each piece but the last. */
  readonly body: readonly Buffer[];
  readonly bodyNames: readonly string[];
  /** SMTP transparency (RFC 5321 §4.5.2) applied here, once: lines starting with `.` doubled. */
  readonly dotStuffed: boolean;
  /** Present when messages are DKIM-signed (see dkim.ts). */
  readonly dkim?: DigestDkim;
}

/**
 * What DKIM signing needs per edition. The body up to the first personal value is the same in
 * every message: its hash state is kept and cloned per message (Hash.copy), which then hashes
 * only the personal values and the pieces after them.
 */
export interface DigestDkim {
  readonly signer: DkimSigner;
  /** The shared header fields canonicalised once; the slots are PERSONAL_FIELDS. */
  readonly headers: PreparedHeaders;
  readonly bodyPrefix: Hash;
  /** body[1..] as the signer must hash them: never dot-stuffed. */
  readonly bodyRest: readonly Buffer[];
}


export interface DigestRecipient {
  subscriberId: number;
  email: string;
  /** Values for the `%%NAME%%` markers; UNSUBSCRIBE_URL also goes into List-Unsubscribe. */
  values: Readonly<Record<string, string>> & { UNSUBSCRIBE_URL: string };
  /** A `mailto:` URI listed after the URL in List-Unsubscribe (RFC 2369), when bounces come to us. */
  mailtoUnsubscribe?: string | undefined;
}

const CRLF = '\r\n';

/** `Name: value` folded at 78 columns; RFC 2047-encoded when it is not plain ASCII. */
function header(name: string, value: string, encode = true): string {
  const encoded = encode && !isPlainText(value) ? encodeWords(value, 'Q', 52) : value;
  return `${foldLines(`${name}: ${encoded}`, 76)}${CRLF}`;
}

function mailbox(m: { name: string; address: string }): string {
  if (!m.name) return m.address;
  const name = isPlainText(m.name) ? (/^[\w !#$%&'*+\-/=?^`{|}~]+$/.test(m.name) ? m.name : `"${m.name.replace(/(["\\])/g, '\\$1')}"`) : encodeWords(m.name, 'Q', 52);
  return `${name} <${m.address}>`;
}

export function compileDigestMime(
  edition: Pick<DigestContent, 'id' | 'subject' | 'html_template' | 'layout' | 'text_template'>,
  context: MessageContext,
  options: { dotStuffed?: boolean; dkim?: DkimSigner } = {},
): CompiledDigest {
  const layout = edition.html_template === null ? edition.layout : undefined;
  if (edition.html_template === null && !layout) throw new Error(`edition ${edition.id}: neither HTML nor a layout`);
  // `=_` never occurs in quoted-printable output, so the boundary cannot collide with the body.
  // A layout names its parts by a digest of their content: hashing it stands for hashing the HTML.
  const hash = createHash('sha256')
    .update(layout ? JSON.stringify(layout.items) : edition.html_template!)
    .update(edition.text_template)
    .digest('hex')
    .slice(0, 24);
  const boundary = `=_pb_e${edition.id}_${hash}`;
  const messageIdDomain = digestMessageId(edition.id, 0, context.mailFrom).replace(/^<[^@]*@|>$/g, '');

  const head0 = `From: ${mailbox(context.mailFrom)}${CRLF}To: `;
  const head1 = `${CRLF}${header('Subject', edition.subject.replace(/[\r\n]+/g, ' '))}Message-ID: `;
  const head2 = `${CRLF}Date: `;
  const head3 =
    `${CRLF}MIME-Version: 1.0${CRLF}` +
    header('List-Id', `"Paperboy daily digest" <${context.listId}>`, false) +
    `List-Unsubscribe: <`;
  const afterUnsubscribe =
    `>${CRLF}List-Unsubscribe-Post: List-Unsubscribe=One-Click${CRLF}` +
    `Content-Type: multipart/alternative;${CRLF} boundary="${boundary}"${CRLF}${CRLF}` +
    `--${boundary}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}${CRLF}`;
  const betweenParts = `${CRLF}--${boundary}${CRLF}Content-Type: text/html; charset=utf-8${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}${CRLF}`;
  const end = `${CRLF}--${boundary}--${CRLF}`;

  // Body pieces, a value spliced between each two: the text part's, then the html part's.
  const text = splitTemplate(edition.text_template);
  const textPieces = text.parts.map((part, i) => encodePiece(part, i === text.parts.length - 1));
  // The HTML of an edition's variants is mostly the same cards: their encoding is shared.
  let html: { names: readonly string[] };
  let htmlPieces: string[];
  // Stuffed already (each piece starts a line), or stuffed below with the rest of the body.
  let htmlStuffed: string[] | undefined;
  if (layout) {
    const encoded = encodeLayout(layout.items, layout.parts);
    html = encoded;
    htmlPieces = encoded.pieces;
    htmlStuffed = encoded.stuffed;
  } else {
    const split = splitTemplate(edition.html_template!);
    html = split;
    htmlPieces = split.parts.map((part, i) => encodeSharedPiece(part, i === split.parts.length - 1));
  }
  // The body as pieces between spliced values: the text part's, then the html part's.
  textPieces[0] = afterUnsubscribe + textPieces[0]!;
  const lastText = textPieces.length - 1;
  const body = [...textPieces.slice(0, -1), textPieces[lastText]! + betweenParts + htmlPieces[0]!, ...htmlPieces.slice(1)];
  body[body.length - 1] += end;
  let dkim: DigestDkim | undefined;
  if (options.dkim) {
    const blank = body[0]!.indexOf(`${CRLF}${CRLF}`);
    const bodyPrefix = options.dkim.bodyHasher().update(body[0]!.slice(blank + 4), 'latin1');
    // Simple body canonicalisation (RFC 6376 §3.4.3) is the bytes as they are: the body ends in
    // exactly one CRLF (the closing boundary line), so there are no trailing empty lines to drop.
    // One message's header section with stand-in values; only the per-recipient fields change.
    const sample = `${head0}x${head1}<x@x>${head2}x${head3}x${body[0]!.slice(0, blank)}`;
    const headers = options.dkim.prepareHeaders(sample, PERSONAL_FIELDS);
    if (headers.slots.join() !== PERSONAL_FIELDS.join()) throw new Error(`DKIM: per-recipient fields ${headers.slots.join()}, expected ${PERSONAL_FIELDS.join()}`);
    dkim = { signer: options.dkim, headers, bodyPrefix, bodyRest: body.slice(1).map((piece) => Buffer.from(piece, 'latin1')) };
  }
  let stuffedText: string[];
  if (!options.dotStuffed) stuffedText = body;
  else if (htmlStuffed) {
    // Only the text part and the glue are stuffed here; `betweenParts` ends a line, so the first
    // html piece starts one, and `end` starts with CRLF and holds no dot at a line start.
    const textStuffed = textPieces.map((piece, i) => dotStuff(i === lastText ? piece + betweenParts : piece, i > 0));
    stuffedText = [...textStuffed.slice(0, -1), textStuffed[lastText]! + htmlStuffed[0]!, ...htmlStuffed.slice(1)];
    stuffedText[stuffedText.length - 1] += end;
  } else stuffedText = body.map((piece, i) => dotStuff(piece, i > 0));
  const stuffed = stuffedText.map((piece) => Buffer.from(piece, 'latin1'));
  if (dkim && !options.dotStuffed) dkim = { ...dkim, bodyRest: stuffed.slice(1) };
  return {
    editionId: edition.id,
    envelopeFrom: context.mailFrom.address,
    messageIdDomain,
    // Buffers: a message is then one memcpy of the pieces, never a 70 kB string to flatten and encode.
    head: [Buffer.from(head0, 'latin1'), Buffer.from(head1, 'latin1'), Buffer.from(head2, 'latin1'), Buffer.from(head3, 'latin1')],
    // Every piece but the first starts a line (the value before it ends with a line break).
    body: stuffed,
    dotStuffed: options.dotStuffed === true,
    ...(dkim ? { dkim } : {}),
    bodyNames: [...text.names, ...html.names],
  };
}

/** The header fields that differ per recipient, in the DKIM signer's field order (dkim.ts). */
const PERSONAL_FIELDS = ['to', 'date', 'message-id', 'list-unsubscribe'];

/** Header-safe: printable ASCII without spaces, angle brackets or anything that could fold. */
const PLAIN_ADDRESS = /^[\x21-\x3b\x3d\x3f-\x7e]{3,320}$/;

let dateSecond = -1;
let dateText = '';
/** RFC 5322 date, formatted at most once a second. */
export function rfc5322Date(nowMs: number = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString().replace(/GMT$/, '+0000');
  }
  return dateText;
}

/**
 * One recipient's message. Returns undefined for an address that cannot go into a header as it
 * is (an internationalised local part), which the caller sends through the full MIME builder.
 */
export function assembleDigest(digest: CompiledDigest, recipient: DigestRecipient, date: string = rfc5322Date()): { raw: Buffer; messageId: string } | undefined {
  const message = assembleDigestParts(digest, recipient, date);
  return message && { raw: Buffer.concat(message.parts), messageId: message.messageId };
}

/**
 * The same message as a list of buffers: the edition's shared pieces (never copied, never
 * changed) around a few small per-recipient ones, for a socket to write as a vector.
 */
export function assembleDigestParts(digest: CompiledDigest, recipient: DigestRecipient, date: string = rfc5322Date()): { parts: Buffer[]; messageId: string } | undefined {
  return assemble(digest, recipient, date, undefined);
}

/**
 * The message as `assembleDigestParts` builds it, DKIM-signed when the edition was compiled with
 * a signer: the DKIM-Signature fields go in front as one more small buffer.
 */
export async function assembleSignedDigestParts(
  digest: CompiledDigest,
  recipient: DigestRecipient,
  date: string = rfc5322Date(),
): Promise<{ parts: Buffer[]; messageId: string } | undefined> {
  const dkim = digest.dkim;
  if (!dkim) return assemble(digest, recipient, date, undefined);
  const values: string[] = [];
  const message = assemble(digest, recipient, date, values);
  if (!message) return undefined;
  const hash = dkim.bodyPrefix.copy();
  for (let i = 0; i < values.length; i++) hash.update(values[i]!, 'latin1').update(dkim.bodyRest[i]!);
  // parts 1, 3, 5 and 7 are the per-recipient header values (see assemble), in PERSONAL_FIELDS order.
  const p = message.parts;
  const personal = [p[1]!.toString('latin1'), p[5]!.toString('latin1'), message.messageId, `<${p[7]!.toString('latin1')}>`];
  const signature = await dkim.signer.signPrepared(dkim.headers, personal, hash.digest());
  message.parts.unshift(Buffer.from(signature, 'latin1'));
  return message;
}

function assemble(digest: CompiledDigest, recipient: DigestRecipient, date: string, unstuffedValues: string[] | undefined): { parts: Buffer[]; messageId: string } | undefined {
  const url = recipient.values.UNSUBSCRIBE_URL;
  if (!PLAIN_ADDRESS.test(recipient.email) || !PLAIN_ADDRESS.test(url)) return undefined;
  if (recipient.mailtoUnsubscribe !== undefined && !PLAIN_ADDRESS.test(recipient.mailtoUnsubscribe)) return undefined;
  const messageId = `<digest.e${digest.editionId}.s${recipient.subscriberId}@${digest.messageIdDomain}>`;
  const [h0, h1, h2, h3] = digest.head;
  const parts: Buffer[] = [
    h0,
    Buffer.from(`${recipient.email}`, 'latin1'),
    h1,
    Buffer.from(messageId, 'latin1'),
    h2,
    Buffer.from(date, 'latin1'),
    h3,
    // Folded between the two list elements: the header stays under 78 columns per line.
    Buffer.from(recipient.mailtoUnsubscribe ? `${url}>,\r\n <${recipient.mailtoUnsubscribe}` : url, 'latin1'),
    digest.body[0]!,
  ];
  const encoded = new Map<string, { stuffed: Buffer; plain: string }>();
  for (let i = 0; i < digest.bodyNames.length; i++) {
    const name = digest.bodyNames[i]!;
    let value = encoded.get(name);
    if (!value) {
      const text = recipient.values[name];
      if (text === undefined) throw new Error(`no value for %%${name}%%`);
      const encodedValue = encodeSplicedValue(text);
      value = { stuffed: Buffer.from(digest.dotStuffed ? dotStuff(encodedValue, true) : encodedValue, 'latin1'), plain: encodedValue };
      encoded.set(name, value);
    }
    unstuffedValues?.push(value.plain);
    parts.push(value.stuffed, digest.body[i + 1]!);
  }
  return { parts, messageId };
}
