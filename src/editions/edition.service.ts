import type { Executor } from '../db/database.ts';
import { findTopPapersForDay } from '../papers/paper.repository.ts';
import { findEditionByDate, insertEditionOnce } from './edition.repository.ts';
import type { Edition } from './edition.table.ts';
import { renderDigest } from './render-digest.ts';

export interface EditionSettings {
  publicUrl: string;
  maxPapers: number;
}

/**
 * Fixes the selection and the rendered artefacts of the daily edition for `day`, once. Later
 * calls return the stored edition unchanged, so a re-send is byte for byte the same digest.
 * An edition without papers is stored as `empty` and never sent.
 */
export async function buildDailyEdition(db: Executor, day: string, settings: EditionSettings): Promise<Edition> {
  const existing = await findEditionByDate(db, 'daily', day);
  if (existing) return existing;
  const papers = await findTopPapersForDay(db, day, settings.maxPapers);
  if (papers.length === 0) {
    return insertEditionOnce(db, { kind: 'daily', digestDate: day, status: 'empty', paperIds: [], subject: '', html: '', text: '' });
  }
  const rendered = await renderDigest({
    digestDate: day,
    sections: [{ title: 'Top papers of the day', papers }],
    publicUrl: settings.publicUrl,
  });
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
  const papers = await findTopPapersForDay(db, day, settings.maxPapers);
  const rendered = await renderDigest({ digestDate: day, sections: [{ title: 'Top papers of the day', papers }], publicUrl: settings.publicUrl });
  return { papers, ...rendered };
}
