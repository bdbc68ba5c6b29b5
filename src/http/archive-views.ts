import type { ArchiveEdition, ArchiveEntry, ArchivePaper } from '../editions/archive.repository.ts';
import { archivePath, isoWeekLabel } from '../editions/archive-urls.ts';
import { excerpt, formatDigestDate, paperView } from '../editions/render-digest.ts';
import { renderPage } from './pages.ts';

/**
 * The public web view of editions: built from an edition's content (its selection as mailed),
 * never from the rendered email, so nothing personal can reach these pages.
 */

export const sectionTitles: Record<ArchivePaper['section'], string> = {
  top: 'Top papers of the day',
  trending: 'Trending this week',
  weekly: 'Top papers of the week',
};

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

export function editionLabel(entry: Pick<ArchiveEntry, 'kind' | 'digestDate'>): string {
  return entry.kind === 'weekly' ? `Week ${isoWeekLabel(entry.digestDate)}` : formatDigestDate(entry.digestDate);
}

/** The cards of an edition with the figures it was mailed with, grouped by section in mailed order. */
export function editionSections(edition: ArchiveEdition) {
  const sections: { key: ArchivePaper['section']; title: string; papers: ReturnType<typeof paperView>[] }[] = [];
  for (const paper of edition.papers) {
    let section = sections.at(-1);
    if (!section || section.key !== paper.section) {
      section = { key: paper.section, title: sectionTitles[paper.section], papers: [] };
      sections.push(section);
    }
    section.papers.push(paperView({ ...paper, upvotes: paper.mailedUpvotes, comments: paper.mailedComments, upvoteGrowth24h: paper.mailedUpvoteGrowth24h }, paper.position));
  }
  return sections;
}

/** An https image we may name in og:image (the first paper's Daily Papers thumbnail). */
function shareImage(edition: ArchiveEdition): string | null {
  const url = edition.papers.find((p) => p.thumbnail_url)?.thumbnail_url;
  if (!url) return null;
  try {
    return new URL(url).protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

export function renderEditionPage(edition: ArchiveEdition, publicUrl: string): Promise<string> {
  const label = editionLabel(edition);
  const heading = edition.kind === 'weekly' ? 'Trending research papers of the week' : 'Trending research papers';
  const description = excerpt(
    edition.papers
      .slice(0, 3)
      .map((p) => p.title)
      .join(' · '),
    200,
  );
  return renderPage(
    'archive-edition',
    `${heading}, ${label}`,
    {
      heading,
      dateLabel: label,
      paperCount: edition.papers.length,
      paperWord: plural(edition.papers.length, 'paper', 'papers'),
      sections: editionSections(edition),
    },
    {
      title: edition.subject || `${heading}, ${label}`,
      description,
      url: `${publicUrl}${archivePath(edition.kind, edition.digestDate)}`,
      type: 'article',
      image: shareImage(edition),
    },
  );
}

export interface ArchivePager {
  page: number;
  pages: number;
  newer: string | null;
  older: string | null;
}

export function renderArchivePage(entries: readonly ArchiveEntry[], pager: ArchivePager, publicUrl: string): Promise<string> {
  return renderPage(
    'archive',
    pager.page > 1 ? `Archive, page ${pager.page}` : 'Archive',
    {
      entries: entries.map((e) => ({
        path: archivePath(e.kind, e.digestDate),
        label: editionLabel(e),
        kindLabel: e.kind === 'weekly' ? 'Weekly' : 'Daily',
        paperCount: e.paperCount,
        paperWord: plural(e.paperCount, 'paper', 'papers'),
        subject: e.subject,
      })),
      pager: pager.pages > 1 ? pager : null,
    },
    {
      title: 'Paperboy archive',
      description: 'Every edition of the Paperboy digest of trending research papers.',
      url: `${publicUrl}/archive${pager.page > 1 ? `?page=${pager.page}` : ''}`,
      type: 'website',
      image: null,
    },
  );
}
