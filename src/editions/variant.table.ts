import type { ColumnType, Generated, Selectable } from 'kysely';

/** A paper of the "For you" section and the reader's topic it matched. */
export interface ForYouPaper {
  arxivId: string;
  topic: string;
}

/**
 * One distinct selection of an edition (migrations/2026-11-30T0950_edition_variants.ts), rendered
 * once; every reader with that selection is sent these templates, spliced per recipient.
 */
export interface EditionVariantsTable {
  id: Generated<number>;
  edition_id: number;
  /** Digest of the selection (personal-selection.ts selectionKey), unique per edition. */
  selection_key: string;
  /** Every paper the variant shows, in order: what its readers received. */
  paper_ids: string[];
  for_you: ColumnType<ForYouPaper[], string, string>;
  subject: string;
  /** The whole HTML: variants stored before parts (migrations/2026-11-30T1400_variant_parts.ts). */
  html_template: string | null;
  /** The HTML as its own strings and the keys of its parts (edition_parts). */
  html_layout: ColumnType<HtmlLayout | null, string | null, string | null>;
  text_template: string;
  created_at: Generated<Date>;
}

/**
 * A variant's HTML in order: a string is its own (subject, preheader, a "because you follow"
 * topic, the joins between sections), `{ part }` the key of a part of its edition (edition_parts).
 */
export type HtmlLayout = (string | { part: string })[];

/** A piece of HTML that several variants of an edition show; its key is a digest of its content. */
export interface EditionPartsTable {
  edition_id: number;
  key: string;
  html: string;
}

export type EditionVariant = Selectable<EditionVariantsTable>;
