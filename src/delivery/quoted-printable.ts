/**
 * Quoted-printable (RFC 2045 §6.7) for bodies that are encoded once per edition and spliced per
 * recipient. Every encoded line, soft break included, stays within 76 characters, and a piece
 * can be closed with a soft line break so the next piece starts on a fresh line: splicing never
 * has to re-wrap the text around it.
 */
const MAX_LINE = 76;

const hex = Array.from({ length: 256 }, (_, i) => `=${i.toString(16).toUpperCase().padStart(2, '0')}`);

/** Encodes `text`; line breaks of any kind become CRLF. The result does not end in a soft break. */
export function encodeQuotedPrintable(text: string): string {
  const bytes = Buffer.from(text.replace(/\r\n|\r|\n/g, '\n'), 'utf8');
  let out = '';
  let line = '';
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x0a) {
      out += `${line}\r\n`;
      line = '';
      continue;
    }
    let token: string;
    if (byte === 0x20 || byte === 0x09) {
      // Whitespace right before a hard line break (or the end) would be stripped in transit.
      const next = bytes[i + 1];
      token = next === undefined || next === 0x0a ? hex[byte]! : String.fromCharCode(byte);
    } else if (byte >= 0x21 && byte <= 0x7e && byte !== 0x3d) {
      token = String.fromCharCode(byte);
    } else {
      token = hex[byte]!;
    }
    // Keep one column free for the `=` of a soft line break.
    if (line.length + token.length > MAX_LINE - 1) {
      out += `${line}=\r\n`;
      line = '';
    }
    line += token;
  }
  return out + line;
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
