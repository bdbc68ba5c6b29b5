import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { paperColumns } from '../papers/paper.repository.ts';
import type { Paper } from '../papers/paper.table.ts';
import type { EditionSection } from './edition-papers.table.ts';

/**
 * What the public may read of editions: their content (day, subject, the selection with the
 * figures as mailed), never their sending state, and never the rendered email (it carries the
 * per-recipient link markers). An edition is public once it has papers.
 */

export type EditionKind = 'daily' | 'weekly';

export interface ArchiveEntry {
  id: number;
  kind: EditionKind;
  /** YYYY-MM-DD; for a weekly edition a day of its ISO week. */
  digestDate: string;
  subject: string;
  paperCount: number;
  createdAt: Date;
}

export interface ArchivePaper extends Paper {
  position: number;
  section: EditionSection;
  /** As mailed (the `upvotes`/`comments` fields are today's). */
  mailedUpvotes: number;
  mailedComments: number;
  /** Upvotes gained in the 24 hours before the edition's end, as mailed. */
  mailedUpvoteGrowth24h: number;
}

export interface ArchiveEdition extends ArchiveEntry {
  papers: ArchivePaper[];
}

/** Writes an edition's selection as mailed; a second call for the same edition changes nothing. */
export async function recordEditionPapers(
  db: Executor,
  editionId: number,
  sections: readonly { key: EditionSection; papers: readonly (Pick<Paper, 'arxiv_id' | 'upvotes' | 'comments'> & { upvoteGrowth24h?: number })[] }[],
): Promise<void> {
  const rows = sections.flatMap((s) => s.papers.map((p) => ({ section: s.key, paper: p })));
  if (rows.length === 0) return;
  await db
    .insertInto('edition_papers')
    .values(
      rows.map((r, i) => ({
        edition_id: editionId,
        position: i + 1,
        section: r.section,
        arxiv_id: r.paper.arxiv_id,
        upvotes: r.paper.upvotes,
        comments: r.paper.comments,
        upvote_growth_24h: r.paper.upvoteGrowth24h ?? 0,
      })),
    )
    .onConflict((oc) => oc.columns(['edition_id', 'position']).doNothing())
    .execute();
}

const publicEditions = (db: Executor) =>
  db
    .selectFrom('editions')
    .where('editions.status', '<>', 'empty')
    .where(sql<boolean>`cardinality(editions.paper_ids) > 0`);

const entryColumns = [
  'editions.id',
  'editions.kind',
  'editions.digest_date',
  'editions.subject',
  'editions.created_at',
  sql<number>`cardinality(editions.paper_ids)`.as('paper_count'),
] as const;

type EntryRow = { id: number; kind: EditionKind; digest_date: string; subject: string; created_at: Date; paper_count: number };
const toEntry = (row: EntryRow): ArchiveEntry => ({
  id: row.id,
  kind: row.kind,
  digestDate: row.digest_date,
  subject: row.subject,
  paperCount: Number(row.paper_count),
  createdAt: row.created_at,
});

/** Public editions, newest first (a weekly edition after the daily one of the same day). */
export async function listPublicEditions(db: Executor, page: { offset: number; limit: number }): Promise<{ total: number; entries: ArchiveEntry[] }> {
  const [rows, count] = await Promise.all([
    publicEditions(db)
      .select(entryColumns)
      .orderBy('editions.digest_date', 'desc')
      .orderBy('editions.kind', 'desc')
      .orderBy('editions.id', 'desc')
      .offset(page.offset)
      .limit(page.limit)
      .execute(),
    publicEditions(db).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { total: Number(count.n), entries: rows.map(toEntry) };
}

/** The newest public editions with their papers, for the feeds. */
export async function findRecentPublicEditions(db: Executor, limit: number): Promise<ArchiveEdition[]> {
  const { entries } = await listPublicEditions(db, { offset: 0, limit });
  const papers = await findArchivePapers(db, entries.map((e) => e.id));
  return entries.map((e) => ({ ...e, papers: papers.get(e.id) ?? [] }));
}

/**
 * The public edition of `kind` whose digest day lies in [firstDay, lastDay] (a daily edition: one
 * day; a weekly one: its ISO week, whichever day of it the edition is dated).
 */
export async function findPublicEdition(db: Executor, kind: EditionKind, firstDay: string, lastDay: string): Promise<ArchiveEdition | undefined> {
  const row = await publicEditions(db)
    .select(entryColumns)
    .where('editions.kind', '=', kind)
    .where('editions.digest_date', '>=', firstDay)
    .where('editions.digest_date', '<=', lastDay)
    .orderBy('editions.digest_date', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const entry = toEntry(row);
  const papers = await findArchivePapers(db, [entry.id]);
  return { ...entry, papers: papers.get(entry.id) ?? [] };
}

/** Every public edition's address and time, for the sitemap. */
export async function listPublicEditionDays(db: Executor): Promise<{ kind: EditionKind; digestDate: string; createdAt: Date }[]> {
  const rows = await publicEditions(db)
    .select(['editions.kind', 'editions.digest_date', 'editions.created_at'])
    .orderBy('editions.digest_date', 'desc')
    .limit(50_000)
    .execute();
  return rows.map((r) => ({ kind: r.kind, digestDate: r.digest_date, createdAt: r.created_at }));
}

async function findArchivePapers(db: Executor, editionIds: readonly number[]): Promise<Map<number, ArchivePaper[]>> {
  const byEdition = new Map<number, ArchivePaper[]>();
  if (editionIds.length === 0) return byEdition;
  const rows = await db
    .selectFrom('edition_papers as ep')
    .innerJoin('papers', 'papers.arxiv_id', 'ep.arxiv_id')
    .select(paperColumns.map((c) => `papers.${c}` as const))
    .select(['ep.edition_id', 'ep.position', 'ep.section', 'ep.upvotes as mailed_upvotes', 'ep.comments as mailed_comments', 'ep.upvote_growth_24h as mailed_growth'])
    .where(sql<boolean>`ep.edition_id = any(${[...editionIds]}::bigint[])`)
    .orderBy('ep.edition_id')
    .orderBy('ep.position')
    .execute();
  for (const { edition_id, position, section, mailed_upvotes, mailed_comments, mailed_growth, ...paper } of rows) {
    const list = byEdition.get(edition_id) ?? [];
    list.push({ ...paper, position, section, mailedUpvotes: mailed_upvotes, mailedComments: mailed_comments, mailedUpvoteGrowth24h: mailed_growth });
    byEdition.set(edition_id, list);
  }
  return byEdition;
}
