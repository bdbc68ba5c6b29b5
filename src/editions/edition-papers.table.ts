import type { ColumnType } from 'kysely';

/** An edition's selection as mailed (migrations/2026-11-30T0500_web_archive.ts). */
export interface EditionPapersTable {
  edition_id: number;
  /** 1-based order in the digest, across sections. */
  position: number;
  section: EditionSection;
  arxiv_id: string;
  /** The figures the paper was mailed with. */
  upvotes: number;
  comments: number;
  /** Upvotes gained in the 24 hours before the edition's end, as the card showed it (0: none shown). */
  upvote_growth_24h: ColumnType<number, number | undefined, never>;
}

export type EditionSection = 'top' | 'trending' | 'weekly';
