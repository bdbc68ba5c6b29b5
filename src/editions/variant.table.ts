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
  html_template: string;
  text_template: string;
  created_at: Generated<Date>;
}

export type EditionVariant = Selectable<EditionVariantsTable>;
