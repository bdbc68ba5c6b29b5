import type { Database, Executor } from '../db/database.ts';
import { processInstruments } from '../ops/metrics.ts';
import type { Paper } from '../papers/paper.table.ts';
import { findCardSignals, findTopPapersForDigestDay, findTrendingPapers } from '../papers/trending.ts';
import { addDays, startOfUtcDay } from '../dates.ts';
import { recordEditionPapers } from './archive.repository.ts';
import { archivePath } from './archive-urls.ts';
import type { EditionSection } from './edition-papers.table.ts';
import { findEditionByDate, insertEditionOnce } from './edition.repository.ts';
import type { Edition } from './edition.table.ts';
import { renderDigest, type DigestPaper, type DigestSection } from './render-digest.ts';

export interface EditionSettings {
  publicUrl: string;
  maxPapers: number;
}

/** What each of selectDigestSections' sections is, in the archive (edition_papers.section). */
const SECTION_KEYS: readonly EditionSection[] = ['top', 'trending'];

/** Papers in "Trending this week", below the day's top papers. */
export const TRENDING_SECTION_SIZE = 5;

/**
 * The sections of the digest for `day`: the day's top papers (on a Monday with the weekend's),
 * then the week's trending papers ranked as of the end of that day. No paper appears twice.
 */
export async function selectDigestSections(db: Executor, day: string, settings: EditionSettings): Promise<DigestSection[]> {
  const top = await findTopPapersForDigestDay(db, day, settings.maxPapers);
  if (top.length === 0) return [];
  const asOf = startOfUtcDay(addDays(day, 1));
  const trending: Paper[] = await findTrendingPapers(db, {
    asOf,
    days: 7,
    limit: TRENDING_SECTION_SIZE,
    excludeIds: top.map((p) => p.arxiv_id),
  });
  // Each card's momentum and AI summary, as of the same instant as the trending ranking.
  const signals = await findCardSignals(db, [...top, ...trending].map((p) => p.arxiv_id), asOf);
  const withSignals = (papers: Paper[]): DigestPaper[] => papers.map((p) => ({ ...p, ...signals.get(p.arxiv_id) }));
  return [
    { title: 'Top papers of the day', papers: withSignals(top) },
    { title: 'Trending this week', papers: withSignals(trending) },
  ];
}

/**
 * Fixes the selection and the rendered artefacts of the daily edition for `day`, once. Later
 * calls return the stored edition unchanged, so a re-send is byte for byte the same digest.
 * An edition without papers is stored as `empty` and never sent.
 */
export async function buildDailyEdition(db: Executor, day: string, settings: EditionSettings): Promise<Edition> {
  const existing = await findEditionByDate(db, 'daily', day);
  if (existing) return existing;
  const sections = await selectDigestSections(db, day, settings);
  if (sections.length === 0) {
    return insertEditionOnce(db, { kind: 'daily', digestDate: day, status: 'empty', paperIds: [], subject: '', html: '', text: '' });
  }
  const papers = sections.flatMap((s) => s.papers);
  const endRender = processInstruments().renderSeconds.startTimer();
  const rendered = await renderDigest({ digestDate: day, sections, publicUrl: settings.publicUrl, archivePath: archivePath('daily', day) });
  endRender();
  // The selection with the figures as mailed goes in with the edition, in one transaction, so the
  // archive never sees an edition without its papers.
  const store = async (trx: Executor) => {
    const edition = await insertEditionOnce(trx, {
      kind: 'daily',
      digestDate: day,
      status: 'ready',
      paperIds: papers.map((p) => p.arxiv_id),
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
    });
    await recordEditionPapers(trx, edition.id, sections.map((s, i) => ({ key: SECTION_KEYS[i] ?? 'trending', papers: s.papers })));
    return edition;
  };
  return db.isTransaction ? store(db) : db.transaction().execute(store);
}

/** Preview of what the edition for `day` would contain, without storing anything. */
export async function previewDailyEdition(db: Executor, day: string, settings: EditionSettings) {
  const sections = await selectDigestSections(db, day, settings);
  const rendered = await renderDigest({ digestDate: day, sections, publicUrl: settings.publicUrl, archivePath: archivePath('daily', day) });
  return { papers: sections.flatMap((s) => s.papers), ...rendered };
}

/** Builds the daily edition of every day that has featured papers (sample data on a first run). */
export async function buildEditionsForFeaturedDays(db: Database, settings: EditionSettings): Promise<number> {
  const days = await db
    .selectFrom('papers')
    .select('featured_on')
    .distinct()
    .where('featured_on', 'is not', null)
    .where('withdrawn_at', 'is', null)
    .orderBy('featured_on')
    .execute();
  let built = 0;
  for (const { featured_on } of days) {
    const edition = await buildDailyEdition(db, featured_on!, settings);
    if (edition.status !== 'empty') built++;
  }
  return built;
}
