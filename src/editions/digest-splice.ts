import { handlebars, mjmlToHtml } from '../email/templates.ts';
import { digestTemplates, digestView, renderDigest, type DigestInput, type DigestSection, type DigestView, type RenderedDigest } from './render-digest.ts';

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

/** A card's HTML; a labelled one around its topic's slot. */
type CardParts = readonly [string] | readonly [string, string];

interface Frame {
  join: string;
  /** The head and the "view in browser" section, split at the subject and preheader slots. */
  head: { parts: string[]; slots: ('subject' | 'preheader')[] };
  heading: string;
  footer: string;
}

/** MJML calls and cards rendered by every splicer of this process (the bench reports them). */
export const spliceCounts = { mjmlCalls: 0, cards: 0 };

export class DigestSplicer {
  private frame: Frame | undefined;
  private readonly titles = new Map<string, string>();
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
      join: joins[0]!,
      head: splitSlots(pieces[0]!),
      heading: pieces[1]!,
      footer: pieces[pieces.length - 1]!,
    };
    titles.forEach((title, i) => this.titles.set(title, pieces[2 + i]!));
    cards.forEach(([key, card], i) => {
      const piece = pieces[2 + titles.length + 1 + i]!;
      const parts = card.because ? piece.split(BECAUSE_SLOT) : [piece];
      if (parts.length !== (card.because ? 2 : 1)) throw new Error('digest-splice: a card shows its label other than once');
      this.cards.set(key, parts as unknown as CardParts);
    });
  }

  /** The digest of `sections`, equal to renderDigest's; parts not yet rendered are rendered first. */
  async render(sections: DigestSection[]): Promise<RenderedDigest> {
    const view = digestView({ ...this.base, sections });
    // MJML leaves the preview out when it is empty; so rare (untitled papers only) that it is rendered whole.
    if (view.preheader === '') {
      this.mjmlRenders++;
      spliceCounts.mjmlCalls++;
      return renderDigest({ ...this.base, sections });
    }
    await this.prepare([sections]);
    const frame = this.frame!;
    const values = { subject: escapeText(view.subject), preheader: escapeText(view.preheader) };
    let head = frame.head.parts[0]!;
    frame.head.slots.forEach((slot, i) => (head += values[slot] + frame.head.parts[i + 1]!));
    const pieces = [head, frame.heading];
    for (const section of view.sections) {
      pieces.push(this.titles.get(section.title)!);
      for (const card of section.papers) {
        const parts = this.cards.get(cardKey(card))!;
        pieces.push(parts.length === 1 ? parts[0] : parts[0] + escapeText(card.because!) + parts[1]);
      }
    }
    pieces.push(frame.footer);
    return { subject: view.headerSubject, html: pieces.join(frame.join), text: this.templates![1](view) };
  }
}

function splitSlots(head: string): Frame['head'] {
  const parts: string[] = [];
  const slots: ('subject' | 'preheader')[] = [];
  let last = 0;
  for (const match of head.matchAll(new RegExp(`${SUBJECT_SLOT}|${PREHEADER_SLOT}`, 'g'))) {
    parts.push(head.slice(last, match.index));
    slots.push(match[0] === SUBJECT_SLOT ? 'subject' : 'preheader');
    last = match.index + match[0].length;
  }
  parts.push(head.slice(last));
  return { parts, slots };
}

/**
 * As the templates escape `{{subject}}`, `{{preheader}}` and `{{because}}`; their whitespace is
 * already as the minifier leaves it (render-digest.ts collapseSpace).
 */
function escapeText(value: string): string {
  return handlebars.Utils.escapeExpression(value);
}
