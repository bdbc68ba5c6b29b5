import { createHash } from 'node:crypto';
import { handlebars, mjmlToHtml } from '../email/templates.ts';
import { digestTemplates, digestView, renderDigest, type DigestInput, type DigestSection, type DigestView, type RenderedDigest } from './render-digest.ts';
import type { HtmlLayout } from './variant.table.ts';

/**
 * An edition's variants assembled from parts rendered once (issue #10, "render each variant
 * once"): MJML compiles the frame (head, the two top sections, the footer), each section title and
 * each paper card once per edition (with a "because you follow" label: once per paper, the topic a
 * slot); a variant's HTML is then a join of those strings, with its subject, preheader and labels
 * put in. No MJML call per variant.
 *
 * This relies on how MJML writes a body: every mj-section is rendered on its own, and two
 * consecutive ones are joined by one Outlook conditional that closes the previous section's
 * table and opens the next (SECTION_JOIN). A document cut at those joins gives pieces that are
 * the same whatever section stands next to them, so gluing pieces of several renders back with the
 * same join is the document a single render of those sections gives (test/unit/digest-splice.test.ts
 * checks it byte for byte). Should MJML ever write a body differently, the cut finds a different
 * number of pieces than sections and this fails loudly instead of sending a broken digest.
 *
 * A variant is kept as its layout (compose): the keys of the parts it shows, with its own short
 * strings between them; the parts are stored once per edition (edition_parts), and a worker
 * encodes each part once for all the variants that show it.
 */

const SECTION_JOIN = /<!--\[if mso \| IE\]><\/td><\/tr><\/table><table [^>]*><tr><td [^>]*><!\[endif\]-->/g;
/** Stand-ins for the variant's own head values; letters only, so no escaping or minifying touches them. */
const SUBJECT_SLOT = 'PbSlotSubjectQx';
const PREHEADER_SLOT = 'PbSlotPreheaderQx';
/** A card's "because you follow" topic: a paper's card is rendered once with it, whatever the topic. */
const BECAUSE_SLOT = 'PbSlotBecauseQx';
/**
 * Cards per MJML call: time per card is the same from 10 to 200 a call, but a worker that plans
 * peaks ~10 MB lower at 25 than at 100 (MJML's working set grows with the document).
 */
const CARDS_PER_RENDER = 25;

type CardView = DigestView['sections'][number]['papers'][number];

/**
 * What a card's HTML depends on: everything it shows but its label's topic (a slot) and its number
 * (the text part's only).
 */
function cardKey(card: CardView): string {
  const { number: _number, because, ...shown } = card;
  return `${because ? 'labelled' : 'plain'}:${JSON.stringify(shown)}`;
}

/** A rendered piece of HTML and its key in edition_parts (a digest of the HTML). */
interface Piece {
  html: string;
  key: string;
}

/** Shorter pieces are written into each layout: a lookup would cost more than the bytes. */
const PART_MIN = 256;

function piece(html: string): Piece {
  return { html, key: partKey(html) };
}

/** The key of a part: 132 bits of SHA-256, so equal HTML gets the same row from any process. */
export function partKey(html: string): string {
  return createHash('sha256').update(html).digest('base64url').slice(0, 22);
}

/** A card's HTML; a labelled one around its topic's slot. */
type CardParts = readonly [Piece] | readonly [Piece, Piece];

interface Frame {
  /** Between every two sections: a part however short, as every variant has ~20 of it. */
  join: Piece;
  /** The head and the "view in browser" section, split at the subject and preheader slots. */
  head: { parts: Piece[]; slots: ('subject' | 'preheader')[] };
  heading: Piece;
  footer: Piece;
}

/** A variant as stored: its subject and text, its HTML as a layout and the parts it names. */
export interface ComposedDigest {
  subject: string;
  text: string;
  layout: HtmlLayout;
  parts: Map<string, string>;
}

/** The HTML a layout stands for; `parts` must hold every part it names. */
export function joinLayout(layout: HtmlLayout, parts: ReadonlyMap<string, string>): string {
  let html = '';
  for (const item of layout) {
    if (typeof item === 'string') {
      html += item;
      continue;
    }
    const part = parts.get(item.part);
    if (part === undefined) throw new Error(`digest-splice: part ${item.part} of a layout is missing`);
    html += part;
  }
  return html;
}

/** MJML calls and cards rendered by every splicer of this process (the bench reports them). */
export const spliceCounts = { mjmlCalls: 0, cards: 0 };

export class DigestSplicer {
  private frame: Frame | undefined;
  private readonly titles = new Map<string, Piece>();
  private readonly cards = new Map<string, CardParts>();
  private templates: Awaited<ReturnType<typeof digestTemplates>> | undefined;
  /** MJML calls made (each renders many parts); the bench reports it. */
  mjmlRenders = 0;

  constructor(private readonly base: Omit<DigestInput, 'sections'>) {}

  get cardsRendered(): number {
    return this.cards.size;
  }

  /** Renders every card and section title of `digests` not rendered yet: one MJML call per 25 cards. */
  async prepare(digests: readonly DigestSection[][]): Promise<void> {
    this.templates ??= await digestTemplates();
    const titles = new Set<string>();
    const cards = new Map<string, CardView>();
    for (const sections of digests) {
      for (const section of digestView({ ...this.base, sections }).sections) {
        if (!this.titles.has(section.title)) titles.add(section.title);
        for (const card of section.papers) {
          const key = cardKey(card);
          if (!this.cards.has(key)) cards.set(key, card.because ? { ...card, because: BECAUSE_SLOT } : card);
        }
      }
    }
    const pending = [...cards];
    if (this.frame && titles.size === 0 && pending.length === 0) return;
    do {
      const chunk = pending.splice(0, CARDS_PER_RENDER);
      await this.renderCatalogue([...titles], chunk);
      titles.clear();
    } while (pending.length > 0);
  }

  /**
   * One document holding the frame, each of `titles` as an empty section and `cards` in one more
   * section; cut at the section joins into its parts.
   */
  private async renderCatalogue(titles: string[], cards: [string, CardView][]): Promise<void> {
    const view: DigestView = {
      ...digestView({ ...this.base, sections: [] }),
      subject: SUBJECT_SLOT,
      preheader: PREHEADER_SLOT,
      sections: [...titles.map((title) => ({ title, papers: [] })), { title: 'cards', papers: cards.map(([, card]) => card) }],
    };
    const html = await mjmlToHtml(this.templates![0](view));
    this.mjmlRenders++;
    spliceCounts.mjmlCalls++;
    spliceCounts.cards += cards.length;
    const joins = [...html.matchAll(SECTION_JOIN)].map((m) => m[0]);
    const pieces = html.split(SECTION_JOIN);
    const expected = 2 + titles.length + 1 + cards.length + 1;
    if (pieces.length !== expected || joins.some((j) => j !== joins[0])) {
      throw new Error(`digest-splice: MJML wrote ${pieces.length} section pieces for ${expected} sections; the templates or MJML changed`);
    }
    this.frame ??= {
      join: piece(joins[0]!),
      head: splitSlots(pieces[0]!),
      heading: piece(pieces[1]!),
      footer: piece(pieces[pieces.length - 1]!),
    };
    titles.forEach((title, i) => this.titles.set(title, piece(pieces[2 + i]!)));
    cards.forEach(([key, card], i) => {
      const html = pieces[2 + titles.length + 1 + i]!;
      const parts = card.because ? html.split(BECAUSE_SLOT) : [html];
      if (parts.length !== (card.because ? 2 : 1)) throw new Error('digest-splice: a card shows its label other than once');
      this.cards.set(key, parts.map(piece) as unknown as CardParts);
    });
  }

  /** The digest of `sections`, equal to renderDigest's; parts not yet rendered are rendered first. */
  async render(sections: DigestSection[]): Promise<RenderedDigest> {
    const composed = await this.compose(sections);
    return { subject: composed.subject, html: joinLayout(composed.layout, composed.parts), text: composed.text };
  }

  /**
   * The digest of `sections` as a layout of parts; joined, it is renderDigest's HTML byte for byte.
   * Parts not yet rendered are rendered first.
   */
  async compose(sections: DigestSection[]): Promise<ComposedDigest> {
    const view = digestView({ ...this.base, sections });
    // MJML leaves the preview out when it is empty; so rare (untitled papers only) that it is rendered whole.
    if (view.preheader === '') {
      this.mjmlRenders++;
      spliceCounts.mjmlCalls++;
      const whole = await renderDigest({ ...this.base, sections });
      const part = piece(whole.html);
      return { subject: whole.subject, text: whole.text, layout: [{ part: part.key }], parts: new Map([[part.key, part.html]]) };
    }
    await this.prepare([sections]);
    const frame = this.frame!;
    const layout: HtmlLayout = [];
    const parts = new Map<string, string>();
    const add = (item: Piece | string) => {
      if (typeof item === 'string' || (item.html.length < PART_MIN && item !== frame.join)) {
        const text = typeof item === 'string' ? item : item.html;
        // Neighbouring strings are one: fewer items to store and to encode.
        if (typeof layout[layout.length - 1] === 'string') layout[layout.length - 1] += text;
        else if (text !== '') layout.push(text);
        return;
      }
      parts.set(item.key, item.html);
      layout.push({ part: item.key });
    };
    const values = { subject: escapeText(view.subject), preheader: escapeText(view.preheader) };
    add(frame.head.parts[0]!);
    frame.head.slots.forEach((slot, i) => {
      add(values[slot]);
      add(frame.head.parts[i + 1]!);
    });
    add(frame.join);
    add(frame.heading);
    for (const section of view.sections) {
      add(frame.join);
      add(this.titles.get(section.title)!);
      for (const card of section.papers) {
        const cardParts = this.cards.get(cardKey(card))!;
        add(frame.join);
        add(cardParts[0]);
        if (cardParts.length === 2) {
          add(escapeText(card.because!));
          add(cardParts[1]);
        }
      }
    }
    add(frame.join);
    add(frame.footer);
    return { subject: view.headerSubject, text: this.templates![1](view), layout, parts };
  }
}

function splitSlots(head: string): Frame['head'] {
  const parts: Piece[] = [];
  const slots: ('subject' | 'preheader')[] = [];
  let last = 0;
  for (const match of head.matchAll(new RegExp(`${SUBJECT_SLOT}|${PREHEADER_SLOT}`, 'g'))) {
    parts.push(piece(head.slice(last, match.index)));
    slots.push(match[0] === SUBJECT_SLOT ? 'subject' : 'preheader');
    last = match.index + match[0].length;
  }
  parts.push(piece(head.slice(last)));
  return { parts, slots };
}

/**
 * As the templates escape `{{subject}}`, `{{preheader}}` and `{{because}}`; their whitespace is
 * already as the minifier leaves it (render-digest.ts collapseSpace).
 */
function escapeText(value: string): string {
  return handlebars.Utils.escapeExpression(value);
}
