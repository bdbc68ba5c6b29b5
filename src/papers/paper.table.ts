import type { ColumnType, Generated, Selectable } from 'kysely';

export interface PapersTable {
  arxiv_id: string;
  title: string;
  abstract: string;
  authors: string[];
  organization: string | null;
  published_at: Date | null;
  /** The Daily Papers day, as YYYY-MM-DD (date columns are read as strings, see db/database.ts). */
  featured_on: string | null;
  upvotes: number;
  comments: number;
  github_url: string | null;
  project_url: string | null;
  thumbnail_url: string | null;
  withdrawn_at: Date | null;
  search: ColumnType<string, never, never>;
  /** Title and keywords only, for ranking topic matches (migrations/2026-11-30T1100_topic_rank_vector.ts). */
  rank_search: ColumnType<string, never, never>;
  first_seen_at: Generated<Date>;
  updated_at: Generated<Date>;
  // Added by 2026-11-27T0002_paper_stats: arXiv enrichment and optional Daily Papers fields.
  /** arXiv categories, primary first when known; empty until arXiv enriched the paper. */
  categories: Generated<string[]>;
  primary_category: string | null;
  doi: string | null;
  ai_summary: string | null;
  ai_keywords: string[] | null;
  github_stars: number | null;
}

/** Columns added after the first schema; kept out of `Paper` so existing readers keep their shape. */
export type PaperEnrichmentColumn = 'categories' | 'primary_category' | 'doi' | 'ai_summary' | 'ai_keywords' | 'github_stars';

export type Paper = Omit<Selectable<PapersTable>, 'search' | 'rank_search' | PaperEnrichmentColumn>;
/** A paper with its arXiv enrichment and optional Daily Papers fields. */
export type PaperDetails = Omit<Selectable<PapersTable>, 'search' | 'rank_search'>;

/** One poll's view of a paper's signals, for growth ("upvotes in the last 24 hours"). */
export interface PaperStatsTable {
  arxiv_id: string;
  captured_at: Date;
  upvotes: number;
  comments: number;
}

export type PaperStats = Selectable<PaperStatsTable>;
