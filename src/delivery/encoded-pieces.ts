import { splitTemplate } from '../email/templates.ts';
import type { HtmlLayout } from '../editions/variant.table.ts';
import { encodePiece } from './quoted-printable.ts';

/**
 * Quoted-printable for the HTML part of a variant, piece by piece, each piece encoded once per
 * process. A personal digest's variants share most of their HTML: the edition's frame and the paper
 * cards are the same strings in every variant (src/editions/digest-splice.ts), joined at MJML's
 * section joins. Cutting a variant's HTML before each join and encoding every piece on its own
 * (each closed by a soft line break, so pieces concatenate into valid quoted-printable, RFC 2045
 * §6.7) lets a worker that meets a new variant reuse the encoding of the cards it met before.
 * HTML without the join (any other document) is one piece: correct, only not shared.
 *
 * A variant stored as a layout (src/editions/digest-splice.ts) names its parts by key: each part is
 * encoded once per process under its key (encodeLayout), without reading, hashing or cutting the
 * variant's whole HTML at all.
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
  return keptOrMade(encoded, piece, PIECES_KEPT, () => encodePiece(piece, false));
}

/** The value kept under `key`, or made now and kept; past `max` the least recently used goes. */
function keptOrMade<V>(map: Map<string, V>, key: string, max: number, make: () => V): V {
  const found = map.get(key);
  if (found !== undefined) {
    hits++;
    // Most recently used last: the oldest is evicted first.
    map.delete(key);
    map.set(key, found);
    return found;
  }
  misses++;
  const made = make();
  if (map.size >= max) map.delete(map.keys().next().value!);
  // A copy as the key: a slice would keep the whole string it was cut from (a 70 kB HTML) alive.
  map.set(` ${key}`.slice(1), made);
  return made;
}

/** Pieces encoded and reused in this process (tests and profiling). */
export function encodedPieceStats(): { hits: number; misses: number; kept: number } {
  return { hits, misses, kept: encoded.size };
}

/** Parts of layouts, encoded, by part key (a digest of the part's HTML, so shared across editions). */
const PARTS_KEPT = 2_000;
const encodedParts = new Map<string, EncodedHtml>();

/**
 * HTML cut at its `%%NAME%%` markers, each piece quoted-printable, as it is and dot-stuffed (RFC
 * 5321 §4.5.2). Every piece starts a line (it follows a soft line break, a spliced value or the
 * part's headers), so stuffing the pieces one by one equals stuffing the whole.
 */
export interface EncodedHtml {
  pieces: string[];
  stuffed: string[];
  names: string[];
}

/** Doubles a `.` that starts a line; `atLineStart` says whether the text itself starts one. */
export function dotStuff(text: string, atLineStart: boolean): string {
  const stuffed = text.replace(/\r\n\./g, '\r\n..');
  return atLineStart && stuffed.startsWith('.') ? `.${stuffed}` : stuffed;
}

/** Text cut at its `%%NAME%%` markers, each piece encoded as one that more text follows, and stuffed. */
function encodeText(text: string): EncodedHtml {
  const split = splitTemplate(text);
  const pieces = split.parts.map((piece) => encodePiece(piece, false));
  return { pieces, stuffed: pieces.map((piece) => dotStuff(piece, true)), names: [...split.names] };
}

/** Ends in a soft line break that only a following piece needs (encodePiece's `isLast`). */
const TRAILING_SOFT_BREAK = /=\r\n$/;

/**
 * The quoted-printable of a layout's HTML cut at its `%%NAME%%` markers: the same pieces and names
 * as encoding the joined HTML split by splitTemplate (pieces may break lines at other places; they
 * decode to the same text). Parts come from the process-wide cache, encoded once under their key;
 * the variant's own strings are encoded here.
 */
export function encodeLayout(layout: HtmlLayout, parts: ReadonlyMap<string, string>): EncodedHtml {
  const out: EncodedHtml = { pieces: [], stuffed: [], names: [] };
  let current = '';
  let currentStuffed = '';
  for (const item of layout) {
    let encoded: EncodedHtml;
    if (typeof item === 'string') {
      encoded = encodeText(item);
    } else {
      const html = parts.get(item.part);
      if (html === undefined) throw new Error(`encoded-pieces: part ${item.part} of a layout is missing`);
      encoded = keptOrMade(encodedParts, item.part, PARTS_KEPT, () => encodeText(html));
    }
    encoded.pieces.forEach((piece, i) => {
      current += piece;
      currentStuffed += encoded.stuffed[i]!;
      if (i < encoded.names.length) {
        out.pieces.push(current);
        out.stuffed.push(currentStuffed);
        out.names.push(encoded.names[i]!);
        current = currentStuffed = '';
      }
    });
  }
  // The end of the HTML is not followed by a soft line break (the boundary line follows), and the
  // encoder never ends text in one of its own, so only the piece's closing break goes.
  out.pieces.push(current.replace(TRAILING_SOFT_BREAK, ''));
  out.stuffed.push(currentStuffed.replace(TRAILING_SOFT_BREAK, ''));
  return out;
}
