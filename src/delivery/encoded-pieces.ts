import { encodePiece } from './quoted-printable.ts';

/**
 * Quoted-printable for the HTML part of a variant, piece by piece, each piece encoded once per
 * process. A personal digest's variants share most of their HTML: the edition's frame and the paper
 * cards are the same strings in every variant (src/editions/digest-splice.ts), joined at MJML's
 * section joins. Cutting a variant's HTML before each join and encoding every piece on its own
 * (each closed by a soft line break, so pieces concatenate into valid quoted-printable, RFC 2045
 * §6.7) lets a worker that meets a new variant reuse the encoding of the cards it met before.
 * HTML without the join (any other document) is one piece: correct, only not shared.
 */

/** How MJML starts the join between two sections: close the previous table, open the next. */
const CUT = '<!--[if mso | IE]></td></tr></table><table';
/** Below this a piece is encoded each time: cheaper than keeping it. */
const SHARED_MIN = 512;
/** ~10 kB each with its key: a few MB for the cards of the editions in flight. */
const PIECES_KEPT = 1_000;

const encoded = new Map<string, string>();
let hits = 0;
let misses = 0;

/** Encodes one part of the HTML (between two per-recipient markers) as encodePiece would. */
export function encodeSharedPiece(text: string, isLast: boolean): string {
  let out = '';
  let start = 0;
  for (;;) {
    const cut = text.indexOf(CUT, start + 1);
    if (cut === -1) break;
    out += encodeOnce(text.slice(start, cut));
    start = cut;
  }
  return out + (start === 0 ? encodePiece(text, isLast) : isLast ? encodePiece(text.slice(start), true) : encodeOnce(text.slice(start)));
}

function encodeOnce(piece: string): string {
  if (piece.length < SHARED_MIN) return encodePiece(piece, false);
  let found = encoded.get(piece);
  if (found !== undefined) {
    hits++;
    // Most recently used last: the oldest is evicted first.
    encoded.delete(piece);
    encoded.set(piece, found);
    return found;
  }
  misses++;
  found = encodePiece(piece, false);
  if (encoded.size >= PIECES_KEPT) encoded.delete(encoded.keys().next().value!);
  // A copy as the key: the slice itself would keep the variant's whole 70 kB HTML alive.
  encoded.set(` ${piece}`.slice(1), found);
  return found;
}

/** Pieces encoded and reused in this process (tests and profiling). */
export function encodedPieceStats(): { hits: number; misses: number; kept: number } {
  return { hits, misses, kept: encoded.size };
}
