import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { PaperRecord } from './hf-item.ts';
import type { Paper } from './paper.table.ts';
import type { ArxivPaper } from './sources/arxiv.ts';

export interface UpsertCounts {
  inserted: number;
  updated: number;
}

/** Runs `write` over chunks of at most 1,000 rows and counts the rows it inserted and updated. */
async function upsertInChunks<T>(items: readonly T[], write: (chunk: T[]) => Promise<{ inserted: boolean }[]>): Promise<UpsertCounts> {
  const counts: UpsertCounts = { inserted: 0, updated: 0 };
  for (let start = 0; start < items.length; start += 1000) {
    for (const row of await write(items.slice(start, start + 1000))) row.inserted ? counts.inserted++ : counts.updated++;
  }
  return counts;
}

/**
 * Inserts new papers and refreshes changing signals (upvotes, comments, links) of known ones.
 * Duplicates inside one batch are merged (last wins) so one statement never touches a row twice.
 */
export async function upsertPapers(db: Executor, records: PaperRecord[]): Promise<UpsertCounts> {
  // Sorted so concurrent upserts lock rows in the same order and cannot deadlock each other.
  return upsertInChunks(dedupeByArxivId(records), (chunk) =>
    db
      .insertInto('papers')
      .values(
        chunk.map((r) => ({
          arxiv_id: r.arxivId,
          title: r.title,
          abstract: r.abstract,
          authors: r.authors,
          organization: r.organization,
          published_at: r.publishedAt,
          featured_on: r.featuredOn,
          upvotes: r.upvotes,
          comments: r.comments,
          github_url: r.githubUrl,
          project_url: r.projectUrl,
          thumbnail_url: r.thumbnailUrl,
          withdrawn_at: r.withdrawnAt,
          ai_summary: r.aiSummary ?? null,
          ai_keywords: r.aiKeywords ?? null,
          github_stars: r.githubStars ?? null,
        })),
      )
      .onConflict((oc) =>
        oc.column('arxiv_id').doUpdateSet((eb) => ({
          title: eb.ref('excluded.title'),
          abstract: eb.ref('excluded.abstract'),
          authors: eb.ref('excluded.authors'),
          organization: sql<string | null>`coalesce(excluded.organization, papers.organization)`,
          published_at: sql<Date | null>`coalesce(excluded.published_at, papers.published_at)`,
          featured_on: sql<string | null>`coalesce(excluded.featured_on, papers.featured_on)`,
          upvotes: eb.ref('excluded.upvotes'),
          comments: eb.ref('excluded.comments'),
          github_url: sql<string | null>`coalesce(excluded.github_url, papers.github_url)`,
          project_url: sql<string | null>`coalesce(excluded.project_url, papers.project_url)`,
          thumbnail_url: sql<string | null>`coalesce(excluded.thumbnail_url, papers.thumbnail_url)`,
          withdrawn_at: eb.ref('excluded.withdrawn_at'),
          ai_summary: sql<string | null>`coalesce(excluded.ai_summary, papers.ai_summary)`,
          ai_keywords: sql<string[] | null>`coalesce(excluded.ai_keywords, papers.ai_keywords)`,
          github_stars: sql<number | null>`coalesce(excluded.github_stars, papers.github_stars)`,
          updated_at: sql<Date>`now()`,
        })),
      )
      // xmax = 0 only for rows this statement inserted.
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .execute(),
  );
}

/**
 * Adds or refreshes papers from arXiv. arXiv enriches what Daily Papers gave us (categories, DOI,
 * the exact publication time) and fills an empty abstract or author list, but keeps the Daily
 * Papers title and text, never touches upvotes/comments (so it can never lower them) and never
 * sets featured_on: a paper only known from arXiv was not featured, so it stays out of the
 * "top of the day" and trending selections.
 */
export async function upsertArxivPapers(db: Executor, papers: readonly ArxivPaper[]): Promise<UpsertCounts> {
  return upsertInChunks(dedupeByArxivId(papers), (chunk) =>
    db
      .insertInto('papers')
      .values(
        chunk.map((p) => ({
          arxiv_id: p.arxivId,
          title: p.title,
          abstract: p.abstract,
          authors: p.authors,
          published_at: p.publishedAt,
          // Only for a new row: the conflict branch leaves the stored signals alone.
          upvotes: 0,
          comments: 0,
          categories: p.categories,
          primary_category: p.primaryCategory,
          doi: p.doi,
        })),
      )
      .onConflict((oc) =>
        oc.column('arxiv_id').doUpdateSet({
          abstract: sql<string>`case when papers.abstract = '' then excluded.abstract else papers.abstract end`,
          authors: sql<string[]>`case when cardinality(papers.authors) = 0 then excluded.authors else papers.authors end`,
          published_at: sql<Date | null>`coalesce(excluded.published_at, papers.published_at)`,
          categories: sql<string[]>`case when cardinality(excluded.categories) > 0 then excluded.categories else papers.categories end`,
          primary_category: sql<string | null>`coalesce(excluded.primary_category, papers.primary_category)`,
          doi: sql<string | null>`coalesce(excluded.doi, papers.doi)`,
          updated_at: sql<Date>`now()`,
        }),
      )
      // xmax = 0 only for rows this statement inserted.
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .execute(),
  );
}

export interface PaperSignals {
  arxivId: string;
  upvotes: number;
  comments: number;
}

/**
 * Records one poll's upvotes and comments per paper (the history that growth is computed from).
 * The papers must exist. A second snapshot at the same instant replaces the first.
 */
export async function insertPaperStats(db: Executor, signals: readonly PaperSignals[], capturedAt: Date): Promise<number> {
  const unique = dedupeByArxivId(signals);
  let written = 0;
  for (let start = 0; start < unique.length; start += 5000) {
    const chunk = unique.slice(start, start + 5000);
    const result = await db
      .insertInto('paper_stats')
      .values(chunk.map((s) => ({ arxiv_id: s.arxivId, captured_at: capturedAt, upvotes: s.upvotes, comments: s.comments })))
      .onConflict((oc) =>
        oc.columns(['arxiv_id', 'captured_at']).doUpdateSet((eb) => ({
          upvotes: eb.ref('excluded.upvotes'),
          comments: eb.ref('excluded.comments'),
        })),
      )
      .executeTakeFirst();
    written += Number(result.numInsertedOrUpdatedRows ?? 0);
  }
  return written;
}

/** Deletes snapshots captured before `before`; growth only looks back a day, so keep a margin. */
export async function prunePaperStats(db: Executor, before: Date): Promise<number> {
  const result = await db.deleteFrom('paper_stats').where('captured_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Last record per arXiv id, ordered by id. */
export function dedupeByArxivId<T extends { arxivId: string }>(records: readonly T[]): T[] {
  return [...new Map(records.map((r) => [r.arxivId, r])).values()].sort((a, b) =>
    a.arxivId < b.arxivId ? -1 : a.arxivId > b.arxivId ? 1 : 0,
  );
}

export const paperColumns = [
  'arxiv_id',
  'title',
  'abstract',
  'authors',
  'organization',
  'published_at',
  'featured_on',
  'upvotes',
  'comments',
  'github_url',
  'project_url',
  'thumbnail_url',
  'withdrawn_at',
  'first_seen_at',
  'updated_at',
] as const;

/** "Top of the day": papers featured on `day` by upvotes, then comments, then id. */
export async function findTopPapersForDay(db: Executor, day: string, limit: number): Promise<Paper[]> {
  return findTopPapersForDays(db, [day], limit);
}

/** The same ranking over several featured days (a Monday digest also covers the weekend). */
export async function findTopPapersForDays(db: Executor, days: readonly string[], limit: number): Promise<Paper[]> {
  if (days.length === 0) return [];
  return db
    .selectFrom('papers')
    .select(paperColumns)
    .where('featured_on', 'in', days)
    .where('withdrawn_at', 'is', null)
    .orderBy('upvotes', 'desc')
    .orderBy('comments', 'desc')
    .orderBy('arxiv_id', 'asc')
    .limit(limit)
    .execute();
}

/** The papers `ids` that exist, in no particular order. */
export async function findPapersByIds(db: Executor, ids: readonly string[]): Promise<Paper[]> {
  if (ids.length === 0) return [];
  // One array parameter, however many ids.
  return db.selectFrom('papers').select(paperColumns).where(sql<boolean>`arxiv_id = any(${[...ids]}::text[])`).execute();
}

export async function countPapers(db: Executor): Promise<number> {
  const row = await db.selectFrom('papers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}
