import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { PaperRecord } from './hf-item.ts';
import type { Paper } from './paper.table.ts';

export interface UpsertCounts {
  inserted: number;
  updated: number;
}

/**
 * Inserts new papers and refreshes changing signals (upvotes, comments, links) of known ones.
 * Duplicates inside one batch are merged (last wins) so one statement never touches a row twice.
 */
export async function upsertPapers(db: Executor, records: PaperRecord[]): Promise<UpsertCounts> {
  const unique = [...new Map(records.map((r) => [r.arxivId, r])).values()];
  if (unique.length === 0) return { inserted: 0, updated: 0 };
  let inserted = 0;
  let updated = 0;
  for (let start = 0; start < unique.length; start += 1000) {
    const chunk = unique.slice(start, start + 1000);
    const rows = await db
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
          updated_at: sql<Date>`now()`,
        })),
      )
      // xmax = 0 only for rows this statement inserted.
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .execute();
    for (const row of rows) (row.inserted ? inserted++ : updated++);
  }
  return { inserted, updated };
}

const paperColumns = [
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
  return db
    .selectFrom('papers')
    .select(paperColumns)
    .where('featured_on', '=', day)
    .where('withdrawn_at', 'is', null)
    .orderBy('upvotes', 'desc')
    .orderBy('comments', 'desc')
    .orderBy('arxiv_id', 'asc')
    .limit(limit)
    .execute();
}

/** Papers by id, in the order given. */
export async function findPapersByIds(db: Executor, ids: readonly string[]): Promise<Paper[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('papers').select(paperColumns).where('arxiv_id', 'in', ids).execute();
  const byId = new Map(rows.map((r) => [r.arxiv_id, r]));
  return ids.map((id) => byId.get(id)).filter((p): p is Paper => p !== undefined);
}

export async function countPapers(db: Executor): Promise<number> {
  const row = await db.selectFrom('papers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}
