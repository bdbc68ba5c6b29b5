/**
 * Quoted-printable (RFC 2045 §6.7) for bodies that are encoded once per edition and spliced per
 * recipient. Every encoded line, soft break included, stays within 76 characters, and a piece
 * can be closed with a soft line break so the next piece starts on a fresh line: splicing never
 * has to re-wrap the text around it.
 */
const MAX_LINE = 76;

const HEX = Buffer.from('0123456789ABCDEF', 'latin1');
const EQUALS = 0x3d;

/**
 * Encodes `text`; line breaks of any kind become CRLF. The result does not end in a soft break.
 * Written byte by byte into one buffer: an edition's 70 kB HTML part is encoded in well under a
 * millisecond, so a variant costs the worker little more than the edition's own content.
 */
export function encodeQuotedPrintable(text: string): string {
  const bytes = Buffer.from(text.replace(/\r\n|\r/g, '\n'), 'utf8');
  // At worst every byte is escaped (3) and every line of 25 escapes ends in a soft break (3 per 75).
  const out = Buffer.allocUnsafe(bytes.length * 3 + Math.ceil(bytes.length / 25) * 3 + 3);
  let at = 0;
  let column = 0;
  const length = bytes.length;
  for (let i = 0; i < length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x0a) {
      out[at++] = 0x0d;
      out[at++] = 0x0a;
      column = 0;
      continue;
    }
    // Whitespace right before a hard line break (or the end) would be stripped in transit.
    const literal =
      byte === 0x20 || byte === 0x09 ? i + 1 < length && bytes[i + 1] !== 0x0a : byte >= 0x21 && byte <= 0x7e && byte !== EQUALS;
    const width = literal ? 1 : 3;
    // Keep one column free for the `=` of a soft line break.
    if (column + width > MAX_LINE - 1) {
      out[at++] = EQUALS;
      out[at++] = 0x0d;
      out[at++] = 0x0a;
      column = 0;
    }
    if (literal) {
      out[at++] = byte;
    } else {
      out[at++] = EQUALS;
      out[at++] = HEX[byte >> 4]!;
      out[at++] = HEX[byte & 15]!;
    }
    column += width;
  }
  return out.toString('latin1', 0, at);
}

/** Characters that encode as themselves, so a short value needs no encoder at all. */
const LITERAL = /^[\x21-\x3c\x3e-\x7e]{1,75}$/;

/**
 * Encodes a value spliced between pre-encoded pieces: it gets lines of its own, closed by a soft
 * line break, so it neither lengthens the piece's last line nor breaks an `=XX` escape.
 */
export function encodeSplicedValue(value: string): string {
  return LITERAL.test(value) ? `${value}=\r\n` : `${encodeQuotedPrintable(value)}=\r\n`;
}

/** Encodes a static piece that a spliced value (or nothing) follows. */
export function encodePiece(text: string, isLast: boolean): string {
  const encoded = encodeQuotedPrintable(text);
  // The CRLF before the next boundary belongs to the boundary, not to the last piece.
  if (isLast) return encoded;
  return encoded.length === 0 || encoded.endsWith('\r\n') ? encoded : `${encoded}=\r\n`;
}
