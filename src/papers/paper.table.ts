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
  first_seen_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type Paper = Omit<Selectable<PapersTable>, 'search'>;
