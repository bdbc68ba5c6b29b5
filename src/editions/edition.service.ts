import type { Executor } from '../db/database.ts';
import type { Paper } from '../papers/paper.table.ts';
import { findTopPapersForDigestDay, findTrendingPapers } from '../papers/trending.ts';
import { addDays, startOfUtcDay } from '../dates.ts';
import { findEditionByDate, insertEditionOnce } from './edition.repository.ts';
import type { Edition } from './edition.table.ts';
import { renderDigest, type DigestSection } from './render-digest.ts';

export interface EditionSettings {
  publicUrl: string;
  maxPapers: number;
}

/** Papers in "Trending this week", below the day's top papers. */
export const TRENDING_SECTION_SIZE = 5;

/**
 * The sections of the digest for `day`: the day's top papers (on a Monday with the weekend's),
 * then the week's trending papers ranked as of the end of that day. No paper appears twice.
 */
export async function selectDigestSections(db: Executor, day: string, settings: EditionSettings): Promise<DigestSection[]> {
  const top = await findTopPapersForDigestDay(db, day, settings.maxPapers);
  if (top.length === 0) return [];
  const trending: Paper[] = await findTrendingPapers(db, {
    asOf: startOfUtcDay(addDays(day, 1)),
    days: 7,
    limit: TRENDING_SECTION_SIZE,
    excludeIds: top.map((p) => p.arxiv_id),
  });
  return [
    { title: 'Top papers of the day', papers: top },
    { title: 'Trending this week', papers: trending },
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
  const rendered = await renderDigest({ digestDate: day, sections, publicUrl: settings.publicUrl });
  return insertEditionOnce(db, {
    kind: 'daily',
    digestDate: day,
    status: 'ready',
    paperIds: papers.map((p) => p.arxiv_id),
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
  });
}

/** Preview of what the edition for `day` would contain, without storing anything. */
export async function previewDailyEdition(db: Executor, day: string, settings: EditionSettings) {
  const sections = await selectDigestSections(db, day, settings);
  const rendered = await renderDigest({ digestDate: day, sections, publicUrl: settings.publicUrl });
  return { papers: sections.flatMap((s) => s.papers), ...rendered };
}
