import { Feed, type Item } from 'feed';
import type { ArchiveEdition } from '../editions/archive.repository.ts';
import { archivePath } from '../editions/archive-urls.ts';
import { excerpt, formatAuthors } from '../editions/render-digest.ts';
import type { Paper } from '../papers/paper.table.ts';
import type { TopicEntryKey } from '../papers/topic-search.ts';
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

function newFeed(spec: FeedSpec): Feed {
  const atomUrl = `${spec.selfBase}.xml${spec.query}`;
  const jsonUrl = `${spec.selfBase}.json${spec.query}`;
  return new Feed({
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
}

function render(spec: FeedSpec, format: FeedFormat): string {
  const feed = newFeed(spec);
  for (const entry of spec.items) feed.addItem(toItem(entry, format));
  return format === 'atom' ? feed.atom1() : toJsonFeed11(feed.json1());
}

type JsonFeed1Item = Record<string, unknown> & { author?: unknown };

/** JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/): `authors` arrays replace `author`, and a language. */
function toJsonFeed11(json1: string): string {
  const doc = JSON.parse(json1) as Record<string, unknown> & { author?: unknown; items: JsonFeed1Item[] };
  const { author, items, ...rest } = doc;
  const out: Record<string, unknown> = { ...rest, version: 'https://jsonfeed.org/version/1.1', language: 'en' };
  if (author) out.authors = [author];
  out.items = items.map(toJsonFeed11Item);
  return JSON.stringify(out);
}

function toJsonFeed11Item({ author, ...item }: JsonFeed1Item): Record<string, unknown> {
  return author ? { ...item, authors: [author] } : item;
}

/**
 * Rendered entries, one per paper version and feed format, for the topic feeds. A topic feed runs
 * its search on every request (or once per TOPIC_FEED_CACHE_SECONDS and topic), but its entries
 * are the same papers' again and again, across topics: rendering 30 of them with the generator
 * (xml-js, excerpts of each abstract) was most of the API's CPU per uncached topic feed
 * (BENCHMARKS.md, web). Keys carry `updated_at`, which every write to a paper sets
 * (src/papers/paper.repository.ts), so an entry is never served for a changed paper. The most
 * recently used entries stay, at most maxEntries.
 */
export class FeedEntryCache {
  private readonly entries = new Map<string, string>();
  constructor(private readonly maxEntries: number) {}

  get(key: string): string | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  getOrRender(key: string, render: () => string): string {
    let value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
    } else {
      value = render();
      while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(key, value);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}

// How the generator lays out an Atom document (xml-js, 4 spaces): the entries are the last
// children of <feed>, each starting on its own line at depth 1.
const ATOM_ENTRY_START = '\n    <entry>';
const ATOM_END = '\n</feed>';
const JSON_ITEMS_END = '"items":[]}';

/** One entry as the generator writes it inside a whole document (checked in test/unit/web-archive-units.test.ts). */
function renderEntry(entry: FeedEntry, format: FeedFormat): string {
  const feed = new Feed({ id: 'urn:paperboy:entry', title: '', copyright: '' });
  feed.addItem(toItem(entry, format));
  if (format === 'json') {
    const doc = JSON.parse(feed.json1()) as { items: JsonFeed1Item[] };
    return JSON.stringify(toJsonFeed11Item(doc.items[0]!));
  }
  const xml = feed.atom1();
  const start = xml.indexOf(ATOM_ENTRY_START);
  if (start < 0 || !xml.endsWith(ATOM_END)) throw new Error('feed generator: unexpected Atom layout');
  return xml.slice(start, -ATOM_END.length);
}

/** The same document as render() with these entries: the generator's empty document with `entries` spliced in. */
function renderWithEntries(spec: Omit<FeedSpec, 'items'>, format: FeedFormat, entries: readonly string[]): string {
  const empty = render({ ...spec, items: [] }, format);
  const end = format === 'atom' ? ATOM_END : JSON_ITEMS_END;
  if (!empty.endsWith(end)) throw new Error(`feed generator: unexpected ${format} layout`);
  return format === 'atom'
    ? `${empty.slice(0, -ATOM_END.length)}${entries.join('')}${ATOM_END}`
    : `${empty.slice(0, -2)}${entries.join(',')}]}`;
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

/** A paper as a topic feed's entry. */
function topicEntry(p: Paper): FeedEntry {
  return {
    // The arXiv abstract page is the paper's permanent, global identity.
    id: arxivUrl(p.arxiv_id),
    title: p.title,
    link: hfPaperUrl(p.arxiv_id),
    date: p.first_seen_at,
    published: p.published_at ?? p.first_seen_at,
    summary: excerpt(p.abstract),
    contentHtml: `<p>${escapeHtml(formatAuthors(p.authors))} · ▲ ${p.upvotes} · ${p.comments} comments</p><p>${escapeHtml(excerpt(p.abstract, 1200))}</p><p><a href="${escapeHtml(arxivUrl(p.arxiv_id))}">arXiv</a></p>`,
    authors: p.authors.slice(0, 10),
  };
}

const topicEntryKey = (format: FeedFormat, p: TopicEntryKey) =>
  `${format}:${p.arxiv_id}:${p.updated_at.getTime()}:${p.upvotes}:${p.comments}:${p.first_seen_at.getTime()}:${p.published_at?.getTime() ?? ''}`;

/** A topic feed's entry for a paper rendered before and still current (TopicEntryKey), if kept. */
export function cachedTopicEntry(key: TopicEntryKey, format: FeedFormat, entries: FeedEntryCache): string | undefined {
  return entries.get(topicEntryKey(format, key));
}

/** A topic feed's entry for `paper`, rendered once per paper version. */
export function topicFeedEntry(paper: Paper, format: FeedFormat, entries: FeedEntryCache): string {
  return entries.getOrRender(topicEntryKey(format, paper), () => renderEntry(topicEntry(paper), format));
}

/** A topic feed is as new as its newest paper; an empty one is dated `builtAt`. */
export function topicFeedUpdated(papers: readonly Pick<Paper, 'first_seen_at'>[], builtAt: Date): Date {
  return papers.reduce((latest, p) => (p.first_seen_at > latest ? p.first_seen_at : latest), papers.length ? new Date(0) : builtAt);
}

function topicFeedSpec(topic: string, publicUrl: string, updated: Date): Omit<FeedSpec, 'items'> {
  return {
    title: `Paperboy: papers on “${topic}”`,
    description: `Recent trending research papers matching “${topic}”, most relevant and most upvoted first.`,
    selfBase: `${publicUrl}/feed`,
    query: `?topic=${encodeURIComponent(topic)}`,
    homeUrl: `${publicUrl}/archive`,
    updated,
  };
}

/** A topic feed of entries from topicFeedEntry/cachedTopicEntry, in order. */
export function renderTopicFeedFromEntries(topic: string, entries: readonly string[], updated: Date, publicUrl: string, format: FeedFormat): string {
  return renderWithEntries(topicFeedSpec(topic, publicUrl, updated), format, entries);
}

/**
 * Papers matching a topic, one entry each. With `entries`, each paper's entry is rendered once
 * and reused (the document is the same either way).
 */
export function renderTopicFeed(topic: string, papers: readonly Paper[], publicUrl: string, format: FeedFormat, builtAt: Date, entries?: FeedEntryCache): string {
  const updated = topicFeedUpdated(papers, builtAt);
  if (!entries) return render({ ...topicFeedSpec(topic, publicUrl, updated), items: papers.map(topicEntry) }, format);
  return renderTopicFeedFromEntries(topic, papers.map((p) => topicFeedEntry(p, format, entries)), updated, publicUrl, format);
}
