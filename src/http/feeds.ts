import { Feed, type Item } from 'feed';
import type { ArchiveEdition } from '../editions/archive.repository.ts';
import { archivePath } from '../editions/archive-urls.ts';
import { excerpt, formatAuthors } from '../editions/render-digest.ts';
import type { Paper } from '../papers/paper.table.ts';
import { editionLabel, editionSections } from './archive-views.ts';

/**
 * Atom 1.0 (RFC 4287) and JSON Feed 1.1 documents, generated with the `feed` package. Two of its
 * habits need care: it puts entry titles, summaries and content into CDATA sections marked
 * type="html" and splits only the first "]]>" of each, and it writes text without removing the
 * characters XML 1.0 forbids. So every string is stripped of those characters first, and every
 * html-typed value is escaped HTML (which never contains "]]>"). Its JSON output is version 1;
 * toJsonFeed11 upgrades it.
 */

export type FeedFormat = 'atom' | 'json';

export const FEED_TYPES: Record<FeedFormat, string> = {
  atom: 'application/atom+xml; charset=utf-8',
  json: 'application/feed+json; charset=utf-8',
};

// XML 1.0 §2.2 Char: tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF; lone
// surrogates are not characters either.
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Text safe in any XML text node (the generator escapes & < > in text nodes itself). */
export const xmlText = (value: string) => value.replace(NOT_XML_CHAR, '');

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Text as HTML (for type="html" values and JSON Feed's content_html). */
export const escapeHtml = (value: string) => xmlText(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

interface FeedSpec {
  title: string;
  description: string;
  /** The feed's own URL without format, e.g. https://x/feed (".xml"/".json" added). */
  selfBase: string;
  query: string;
  homeUrl: string;
  updated: Date;
  items: FeedEntry[];
}

/** An entry with plain-text title and summary; each format gets them in the form it defines. */
interface FeedEntry {
  id: string;
  title: string;
  link: string;
  date: Date;
  published: Date;
  summary: string;
  contentHtml: string;
  authors?: string[];
}

/** Atom's title and summary are type="html" (the generator's choice); JSON Feed's are plain text. */
function toItem(entry: FeedEntry, format: FeedFormat): Item {
  const text = format === 'atom' ? escapeHtml : xmlText;
  return {
    id: entry.id,
    title: text(entry.title),
    link: entry.link,
    date: entry.date,
    published: entry.published,
    description: text(entry.summary),
    content: entry.contentHtml,
    ...(entry.authors?.length ? { author: entry.authors.map((name) => ({ name: xmlText(name) })) } : {}),
  };
}

function render(spec: FeedSpec, format: FeedFormat): string {
  const atomUrl = `${spec.selfBase}.xml${spec.query}`;
  const jsonUrl = `${spec.selfBase}.json${spec.query}`;
  const feed = new Feed({
    // The Atom feed's address is its id: stable as long as PUBLIC_URL is.
    id: atomUrl,
    title: xmlText(spec.title),
    description: xmlText(spec.description),
    link: spec.homeUrl,
    language: 'en',
    updated: spec.updated,
    copyright: '',
    generator: 'Paperboy',
    feedLinks: { atom: atomUrl, json: jsonUrl },
    author: { name: 'Paperboy', link: spec.homeUrl },
  });
  for (const entry of spec.items) feed.addItem(toItem(entry, format));
  return format === 'atom' ? feed.atom1() : toJsonFeed11(feed.json1());
}

/** JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/): `authors` arrays replace `author`, and a language. */
function toJsonFeed11(json1: string): string {
  const doc = JSON.parse(json1) as Record<string, unknown> & { author?: unknown; items: (Record<string, unknown> & { author?: unknown })[] };
  const { author, items, ...rest } = doc;
  const out: Record<string, unknown> = { ...rest, version: 'https://jsonfeed.org/version/1.1', language: 'en' };
  if (author) out.authors = [author];
  out.items = items.map(({ author: itemAuthor, ...item }) => (itemAuthor ? { ...item, authors: [itemAuthor] } : item));
  return JSON.stringify(out);
}

const hfPaperUrl = (id: string) => `https://huggingface.co/papers/${encodeURIComponent(id)}`;
const arxivUrl = (id: string) => `https://arxiv.org/abs/${encodeURIComponent(id)}`;

function editionContentHtml(edition: ArchiveEdition): string {
  return editionSections(edition)
    .map(
      (section) =>
        `<h3>${escapeHtml(section.title)}</h3><ol>${section.papers
          .map(
            (p) =>
              `<li><a href="${escapeHtml(p.paperUrl)}">${escapeHtml(p.title)}</a><br>${escapeHtml(p.authors)} · ▲ ${p.upvotes} ${p.upvoteWord}${p.momentum ? ` (${escapeHtml(p.momentum)})` : ''}${p.comments ? ` · ${p.comments} ${p.commentWord}` : ''}</li>`,
          )
          .join('')}</ol>`,
    )
    .join('');
}

/** The newest editions, one entry each, linking to its archive page. */
export function renderEditionsFeed(editions: readonly ArchiveEdition[], publicUrl: string, format: FeedFormat): string {
  const host = new URL(publicUrl).host;
  return render(
    {
      title: 'Paperboy: trending research papers',
      description: 'The daily digest of the papers the research community is upvoting on Hugging Face Daily Papers.',
      selfBase: `${publicUrl}/feed`,
      query: '',
      homeUrl: `${publicUrl}/archive`,
      updated: editions[0]?.createdAt ?? new Date(0),
      items: editions.map((e) => {
        const url = `${publicUrl}${archivePath(e.kind, e.digestDate)}`;
        const titles = e.papers.slice(0, 3).map((p) => p.title);
        return {
          // A tag URI (RFC 4151) per edition: the same entry whatever the feed format or page layout.
          id: `tag:${host},${e.digestDate}:edition/${e.kind}/${e.digestDate}`,
          title: e.subject || `Trending papers, ${editionLabel(e)}`,
          link: url,
          date: e.createdAt,
          published: e.createdAt,
          summary: `${e.papers.length} papers: ${titles.join(' · ')}`,
          contentHtml: editionContentHtml(e),
        };
      }),
    },
    format,
  );
}

/** Papers matching a topic, one entry each. */
export function renderTopicFeed(topic: string, papers: readonly Paper[], publicUrl: string, format: FeedFormat, builtAt: Date): string {
  const query = `?topic=${encodeURIComponent(topic)}`;
  return render(
    {
      title: `Paperboy: papers on “${topic}”`,
      description: `Recent trending research papers matching “${topic}”, most relevant and most upvoted first.`,
      selfBase: `${publicUrl}/feed`,
      query,
      homeUrl: `${publicUrl}/archive`,
      updated: papers.reduce((latest, p) => (p.first_seen_at > latest ? p.first_seen_at : latest), papers.length ? new Date(0) : builtAt),
      items: papers.map((p) => ({
        // The arXiv abstract page is the paper's permanent, global identity.
        id: arxivUrl(p.arxiv_id),
        title: p.title,
        link: hfPaperUrl(p.arxiv_id),
        date: p.first_seen_at,
        published: p.published_at ?? p.first_seen_at,
        summary: excerpt(p.abstract),
        contentHtml: `<p>${escapeHtml(formatAuthors(p.authors))} · ▲ ${p.upvotes} · ${p.comments} comments</p><p>${escapeHtml(excerpt(p.abstract, 1200))}</p><p><a href="${escapeHtml(arxivUrl(p.arxiv_id))}">arXiv</a></p>`,
        authors: p.authors.slice(0, 10),
      })),
    },
    format,
  );
}
