import type { Database, Executor } from '../db/database.ts';
import { processInstruments } from '../ops/metrics.ts';
import { findTopPapersForDays } from '../papers/paper.repository.ts';
import type { Paper } from '../papers/paper.table.ts';
import { digestFeaturedDays, findCardSignals, findTrendingPapers } from '../papers/trending.ts';
import { addDays, formatIsoWeek, isoWeekOf, isoWeekStart, startOfUtcDay } from '../dates.ts';
import { recordEditionPapers } from './archive.repository.ts';
import { archivePath } from './archive-urls.ts';
import type { EditionSection } from './edition-papers.table.ts';
import { findEditionByDate, insertEditionOnce } from './edition.repository.ts';
import type { Edition } from './edition.table.ts';
import { formatDigestDate, renderDigest, type DigestPaper, type DigestSection } from './render-digest.ts';
import { selectFor, type Selection } from './personal-selection.ts';

export interface EditionSettings {
  publicUrl: string;
  maxPapers: number;
}

/** Papers in "Trending this week", below the day's top papers. */
export const TRENDING_SECTION_SIZE = 5;
/**
 * Candidates kept with an edition: enough for the largest digest a reader may choose (30) after
 * skipping what they already received.
 */
const TOP_POOL_SIZE = 60;
const TRENDING_POOL_SIZE = 40;

/** The days whose papers an edition covers: a daily digest's (with the weekend on Monday), or an ISO week. */
export function editionDays(kind: 'daily' | 'weekly', digestDate: string): string[] {
  return kind === 'weekly' ? Array.from({ length: 7 }, (_, i) => addDays(digestDate, i)) : digestFeaturedDays(digestDate);
}

/** The Monday that names the ISO week of `day` (a weekly edition's digest_date). */
export function weekMondayOf(day: string): string {
  return isoWeekStart(isoWeekOf(day));
}

export interface RankedPools {
  top: Paper[];
  trending: Paper[];
}

/**
 * The ranked candidates of an edition: the period's top papers by upvotes (a day, with the weekend
 * on Monday; or the ISO week) and, for a daily edition, the week's trending papers as of the end
 * of that day.
 */
export async function selectEditionPools(db: Executor, kind: 'daily' | 'weekly', digestDate: string): Promise<RankedPools> {
  const top = await findTopPapersForDays(db, editionDays(kind, digestDate), TOP_POOL_SIZE);
  if (top.length === 0 || kind === 'weekly') return { top, trending: [] };
  const trending = await findTrendingPapers(db, { asOf: editionAsOf(kind, digestDate), days: 7, limit: TRENDING_POOL_SIZE });
  return { top, trending };
}

export function poolIds(pools: RankedPools): { top: string[]; trending: string[] } {
  return { top: pools.top.map((p) => p.arxiv_id), trending: pools.trending.map((p) => p.arxiv_id) };
}

/** The instant an edition's figures are taken at: the end of its last day. */
export function editionAsOf(kind: 'daily' | 'weekly', digestDate: string): Date {
  const days = editionDays(kind, digestDate);
  return startOfUtcDay(addDays(days[days.length - 1]!, 1));
}

/** The selected papers as cards show them: with momentum and AI summary as of the edition's end. */
export async function withCardSignals(db: Executor, kind: 'daily' | 'weekly', digestDate: string, selection: Selection, papers: ReadonlyMap<string, Paper>): Promise<Map<string, DigestPaper>> {
  const ids = [...selection.top, ...selection.trending, ...selection.forYou.map((p) => p.arxivId)];
  const signals = await findCardSignals(db, ids, editionAsOf(kind, digestDate));
  return new Map(ids.flatMap((id) => {
    const paper = papers.get(id);
    return paper ? [[id, { ...paper, ...signals.get(id) }] as const] : [];
  }));
}

/** The sections a selection renders as, in order, with their archive keys. */
export function sectionsOf(kind: 'daily' | 'weekly', selection: Selection, papers: ReadonlyMap<string, DigestPaper>): (DigestSection & { key: EditionSection | 'for_you' })[] {
  const pick = (ids: readonly string[]) => ids.map((id) => papers.get(id)).filter((p): p is DigestPaper => p !== undefined);
  const sections: (DigestSection & { key: EditionSection | 'for_you' })[] = [
    { key: kind === 'weekly' ? 'weekly' : 'top', title: kind === 'weekly' ? 'Top papers of the week' : 'Top papers of the day', papers: pick(selection.top) },
    {
      key: 'for_you',
      title: 'For you',
      papers: pick(selection.forYou.map((p) => p.arxivId)),
      because: new Map(selection.forYou.map((p) => [p.arxivId, p.topic])),
    },
    { key: 'trending', title: 'Trending this week', papers: pick(selection.trending) },
  ];
  return sections.filter((s) => s.papers.length > 0);
}

/** How an edition names its period in the subject and heading. */
export function editionDateLabel(kind: 'daily' | 'weekly', digestDate: string): string {
  return kind === 'weekly' ? `week ${formatIsoWeek(isoWeekOf(digestDate))} (from ${formatDigestDate(digestDate)})` : formatDigestDate(digestDate);
}

/**
 * The sections of the digest for `day`: the day's top papers (on a Monday with the weekend's),
 * then the week's trending papers ranked as of the end of that day. No paper appears twice.
 */
export async function selectDigestSections(db: Executor, day: string, settings: EditionSettings): Promise<DigestSection[]> {
  const pools = await selectEditionPools(db, 'daily', day);
  if (pools.top.length === 0) return [];
  const selection = selectFor(poolIds(pools), [], { onlyMyTopics: false, papersPerDigest: settings.maxPapers }, new Set());
  return sectionsOf('daily', selection, await withCardSignals(db, 'daily', day, selection, new Map([...pools.top, ...pools.trending].map((p) => [p.arxiv_id, p]))));
}

/**
 * Fixes the selection, its candidate pools and the rendered artefacts of the edition of `kind` for
 * `digestDate` (a weekly one: the Monday of its ISO week), once. Later calls return the stored
 * edition unchanged, so a re-send is byte for byte the same digest. An edition without papers is
 * stored as `empty` and never sent.
 */
export async function buildEdition(db: Executor, kind: 'daily' | 'weekly', digestDate: string, settings: EditionSettings): Promise<Edition> {
  const existing = await findEditionByDate(db, kind, digestDate);
  if (existing) return existing;
  const pools = await selectEditionPools(db, kind, digestDate);
  if (pools.top.length === 0) {
    return insertEditionOnce(db, { kind, digestDate, status: 'empty', paperIds: [], subject: '', html: '', text: '' });
  }
  const selection = selectFor(poolIds(pools), [], { onlyMyTopics: false, papersPerDigest: settings.maxPapers }, new Set());
  const sections = sectionsOf(kind, selection, await withCardSignals(db, kind, digestDate, selection, new Map([...pools.top, ...pools.trending].map((p) => [p.arxiv_id, p]))));
  const papers = sections.flatMap((s) => s.papers);
  const endRender = processInstruments().renderSeconds.startTimer();
  const rendered = await renderDigest({
    digestDate,
    sections,
    publicUrl: settings.publicUrl,
    archivePath: archivePath(kind, digestDate),
    dateLabel: editionDateLabel(kind, digestDate),
  });
  endRender();
  // The selection with the figures as mailed goes in with the edition, in one transaction, so the
  // archive never sees an edition without its papers.
  const store = async (trx: Executor) => {
    const edition = await insertEditionOnce(trx, {
      kind,
      digestDate,
      status: 'ready',
      paperIds: papers.map((p) => p.arxiv_id),
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      pools: poolIds(pools),
    });
    // The edition itself has no "For you" section: that is a variant's (variant.service.ts).
    await recordEditionPapers(trx, edition.id, sections.filter((s): s is DigestSection & { key: EditionSection } => s.key !== 'for_you'));
    return edition;
  };
  return db.isTransaction ? store(db) : db.transaction().execute(store);
}

export async function buildDailyEdition(db: Executor, day: string, settings: EditionSettings): Promise<Edition> {
  return buildEdition(db, 'daily', day, settings);
}

/** The weekly edition of the ISO week holding `day` ("best of the week"), fixed once like a daily one. */
export async function buildWeeklyEdition(db: Executor, day: string, settings: EditionSettings): Promise<Edition> {
  return buildEdition(db, 'weekly', weekMondayOf(day), settings);
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
