/**
 * Just enough MIME (RFC 2045/2046) to read reports: headers, multipart bodies, base64 and
 * quoted-printable. Reports are machine-written, but the listener takes mail from anyone, so
 * everything here is bounded (depth, parts) and nothing throws on malformed input: a missing
 * boundary leaves one opaque part, a bad encoding leaves the text as it came.
 *
 * Text is handled as "binary" strings (latin1, one char per byte): the fields a report carries
 * (RFC 3464, RFC 5965) are ASCII, and decoding charsets is not needed to read them.
 */
export interface MimePart {
  /** Lower-case field names; repeated fields keep every value in order. */
  headers: Map<string, string[]>;
  /** Lower-case type/subtype, `text/plain` when absent (RFC 2045 §5.2). */
  type: string;
  params: Record<string, string>;
  /** The decoded body of a leaf part ('' for multiparts). */
  body: string;
  parts: MimePart[];
}

const MAX_DEPTH = 6;
const MAX_PARTS = 64;

export function parseMessage(raw: Buffer | string): MimePart {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  return parsePart(text, 0, { parts: 0 });
}

export function header(part: MimePart, name: string): string | undefined {
  return part.headers.get(name.toLowerCase())?.[0];
}

/** Splits at the first empty line; a message without one is all headers (RFC 5322 §2.1). */
function splitHead(text: string): [string, string] {
  const empty = /^\r?\n/.exec(text);
  if (empty) return ['', text.slice(empty[0].length)];
  const match = /\r?\n\r?\n/.exec(text);
  if (!match) return [text, ''];
  return [text.slice(0, match.index), text.slice(match.index + match[0].length)];
}

/** Header fields, unfolded (RFC 5322 §2.2.3), in the shape of `Name: value` groups. */
export function parseFields(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  let name: string | undefined;
  let value = '';
  const flush = () => {
    if (name === undefined) return;
    const list = fields.get(name) ?? [];
    list.push(value.trim());
    fields.set(name, list);
    name = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && name !== undefined) {
      value += ` ${line.trim()}`;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    name = line.slice(0, colon).trim().toLowerCase();
    value = line.slice(colon + 1);
  }
  flush();
  return fields;
}

/** `type/subtype; a=b; c="d"` (RFC 2045 §5.1), lower-casing the type and parameter names. */
export function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const [first = '', ...rest] = value.split(';');
  const params: Record<string, string> = {};
  const paramText = rest.join(';');
  for (const match of paramText.matchAll(/([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g)) {
    params[match[1]!.toLowerCase()] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
  }
  const type = first.trim().toLowerCase();
  return { type: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : 'text/plain', params };
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch (encoding?.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
    case 'quoted-printable':
      return body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    default:
      return body;
  }
}

function parsePart(text: string, depth: number, budget: { parts: number }): MimePart {
  const [head, rawBody] = splitHead(text);
  const headers = parseFields(head);
  const { type, params } = parseContentType(headers.get('content-type')?.[0]);
  const part: MimePart = { headers, type, params, body: '', parts: [] };
  budget.parts++;
  const boundary = params.boundary;
  if (type.startsWith('multipart/') && boundary && depth < MAX_DEPTH) {
    const delimiter = escapeRegExp(`--${boundary}`);
    // Everything after the close delimiter is the epilogue (RFC 2046 §5.1.1): dropped.
    const close = new RegExp(`(?:^|\\r?\\n)${delimiter}--`).exec(rawBody);
    const inside = close ? rawBody.slice(0, close.index) : rawBody;
    // The first piece is the preamble.
    const pieces = inside.split(new RegExp(`(?:^|\\r?\\n)${delimiter}[ \\t]*\\r?\\n`)).slice(1);
    for (const piece of pieces) {
      if (budget.parts >= MAX_PARTS) break;
      part.parts.push(parsePart(piece, depth + 1, budget));
    }
    return part;
  }
  part.body = decodeBody(rawBody, headers.get('content-transfer-encoding')?.[0]);
  // An enclosed message or its headers (RFC 2046 §5.2.1, RFC 6522 text/rfc822-headers): parsed
  // as a nested part so its Message-ID and Return-Path can be read.
  if ((type === 'message/rfc822' || type === 'text/rfc822-headers' || type === 'message/rfc822-headers') && depth < MAX_DEPTH && budget.parts < MAX_PARTS) {
    part.parts.push(parsePart(part.body, depth + 1, budget));
  }
  return part;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Every part, depth first. */
export function* walk(part: MimePart): Generator<MimePart> {
  yield part;
  for (const child of part.parts) yield* walk(child);
}
