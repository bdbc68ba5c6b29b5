import { XMLParser } from 'fast-xml-parser';
import { fetchWithRetry, PaperSourceError, sourceHttpOptions, type SourceHttpOptions, type SourceLog } from './http.ts';
import { stripControlCharacters } from '../source-text.ts';

/**
 * Client for the arXiv API (`{baseUrl}/api/query`), which answers an Atom 1.0 feed.
 * One call is one HTTP request: the caller spaces calls (see ARXIV_REQUEST_SPACING_MS).
 */

/**
 * arXiv's terms of use ask for no more than one request every three seconds, over a single
 * connection, across every machine we run. A per-process sleep cannot promise that once there are
 * several workers, so the queue's shared limiter enforces it (max 1 job per this many ms).
 */
export const ARXIV_REQUEST_SPACING_MS = 3_000;
/** arXiv serves at most this many results per request; page with `start` beyond it. */
export const ARXIV_MAX_RESULTS_PER_REQUEST = 2_000;

export type ArxivSortBy = 'submittedDate' | 'lastUpdatedDate' | 'relevance';

export interface ArxivQuery {
  /** Categories such as cs.CL, OR-ed together (`cat:cs.CL OR cat:cs.LG`). */
  categories?: readonly string[];
  /** Ids with or without version. With categories too, arXiv returns the intersection. */
  ids?: readonly string[];
  /** Offset of the first result, from 0. */
  start?: number;
  /** Defaults to 100; at most ARXIV_MAX_RESULTS_PER_REQUEST. */
  maxResults?: number;
  sortBy?: ArxivSortBy;
  sortOrder?: 'ascending' | 'descending';
}

export interface ArxivPaper {
  /** Unversioned, e.g. 2401.01234 or hep-ex/0307015. */
  arxivId: string;
  version: number | null;
  /** Whitespace-normalised (arXiv hard-wraps titles and abstracts). */
  title: string;
  abstract: string;
  authors: string[];
  /** Every category, the primary one first. */
  categories: string[];
  primaryCategory: string | null;
  publishedAt: Date;
  updatedAt: Date;
  absUrl: string;
  pdfUrl: string | null;
  doi: string | null;
  doiUrl: string | null;
  comment: string | null;
  journalRef: string | null;
}

export interface InvalidArxivEntry {
  index: number;
  reason: string;
}

export interface ArxivFeed {
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  papers: ArxivPaper[];
  /** Entries that lacked what a paper needs (id, title, dates); skipped. */
  invalid: InvalidArxivEntry[];
}

export interface ArxivClientOptions extends SourceHttpOptions {
  /** e.g. https://export.arxiv.org (config.arxivApiUrl). */
  baseUrl: string;
  userAgent?: string;
  log?: SourceLog;
}

export interface ArxivClient {
  readonly baseUrl: string;
  /** One request. Throws PaperSourceError (ARXIV_API_ERROR for arXiv's error feed). */
  query(query: ArxivQuery, options?: { signal?: AbortSignal }): Promise<ArxivFeed>;
}

const categoryPattern = /^[A-Za-z-]+(\.[A-Za-z-]+)?$/;

export function buildArxivQueryUrl(baseUrl: string, query: ArxivQuery): string {
  const categories = query.categories ?? [];
  const ids = (query.ids ?? []).map((id) => id.trim()).filter(Boolean);
  if (categories.length === 0 && ids.length === 0) throw new RangeError('an arXiv query needs categories or ids');
  for (const category of categories) {
    // Checked because the category is spliced into arXiv's query language.
    if (!categoryPattern.test(category)) throw new RangeError(`not an arXiv category: ${JSON.stringify(category)}`);
  }
  const maxResults = query.maxResults ?? 100;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > ARXIV_MAX_RESULTS_PER_REQUEST) {
    throw new RangeError(`maxResults must be 1..${ARXIV_MAX_RESULTS_PER_REQUEST}`);
  }
  const start = query.start ?? 0;
  if (!Number.isInteger(start) || start < 0) throw new RangeError('start must be a non-negative integer');
  const params = new URLSearchParams();
  if (categories.length > 0) params.set('search_query', categories.map((c) => `cat:${c}`).join(' OR '));
  if (ids.length > 0) params.set('id_list', ids.join(','));
  params.set('start', String(start));
  params.set('max_results', String(maxResults));
  params.set('sortBy', query.sortBy ?? 'submittedDate');
  params.set('sortOrder', query.sortOrder ?? 'descending');
  return `${baseUrl.replace(/\/+$/, '')}/api/query?${params}`;
}

const listElements = new Set(['feed.entry', 'feed.entry.author', 'feed.entry.link', 'feed.entry.category']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  // arxiv:primary_category → primary_category, opensearch:totalResults → totalResults.
  removeNSPrefix: true,
  // Keep every value a string: a title like "1984" must not become a number.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (_name, jpath) => listElements.has(String(jpath)),
});

type XmlNode = Record<string, unknown>;

const collapseWhitespace = (text: string) => text.replace(/\s+/g, ' ').trim();

// The XML parser decodes character references such as `&#0;` to the character itself.
function textOf(value: unknown): string {
  if (typeof value === 'string') return stripControlCharacters(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object' && '#text' in value) return textOf((value as XmlNode)['#text']);
  return '';
}

const asNodes = (value: unknown): XmlNode[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter(
    (v): v is XmlNode => typeof v === 'object' && v !== null,
  );

const absIdPattern = /^https?:\/\/(?:export\.|www\.)?arxiv\.org\/abs\/(.+?)(?:v(\d+))?$/;
const errorIdPattern = /\/api\/errors(?:#|$)/;

/** `http://arxiv.org/abs/2401.01234v2` → { arxivId: '2401.01234', version: 2 }. */
export function parseArxivAbsId(id: string): { arxivId: string; version: number | null } | undefined {
  const match = absIdPattern.exec(id.trim());
  if (!match) return undefined;
  return { arxivId: match[1]!, version: match[2] ? Number(match[2]) : null };
}

/**
 * Parses an arXiv Atom feed. Throws PaperSourceError INVALID_FEED for a body that is not an Atom
 * feed and ARXIV_API_ERROR for arXiv's error feed (a single entry whose id is …/api/errors#…).
 */
export function parseArxivFeed(xml: string, url = 'arXiv feed'): ArxivFeed {
  let document: XmlNode;
  try {
    document = parser.parse(xml, true) as XmlNode;
  } catch (error) {
    const snippet = collapseWhitespace(xml.slice(0, 120));
    throw new PaperSourceError('INVALID_FEED', `${url} is not valid XML (${(error as Error).message}); starts with "${snippet}"`, {
      url,
      cause: error,
    });
  }
  const feed = document.feed;
  if (!feed || typeof feed !== 'object') {
    throw new PaperSourceError('INVALID_FEED', `${url} is XML but not an Atom feed`, { url });
  }
  const feedNode = feed as XmlNode;
  const entries = asNodes(feedNode.entry);

  const errorEntry = entries.find((entry) => errorIdPattern.test(textOf(entry.id)));
  if (errorEntry) {
    const detail = collapseWhitespace(textOf(errorEntry.summary)) || textOf(errorEntry.id);
    throw new PaperSourceError('ARXIV_API_ERROR', `arXiv rejected the query: ${detail}`, { url });
  }

  const papers: ArxivPaper[] = [];
  const invalid: InvalidArxivEntry[] = [];
  entries.forEach((entry, index) => {
    const result = paperFromEntry(entry);
    if (typeof result === 'string') invalid.push({ index, reason: result });
    else papers.push(result);
  });
  const count = (value: unknown, fallback: number) => {
    const n = Number.parseInt(textOf(value), 10);
    return Number.isFinite(n) ? n : fallback;
  };
  return {
    totalResults: count(feedNode.totalResults, entries.length),
    startIndex: count(feedNode.startIndex, 0),
    itemsPerPage: count(feedNode.itemsPerPage, entries.length),
    papers,
    invalid,
  };
}

/** A paper, or the reason the entry is unusable. */
function paperFromEntry(entry: XmlNode): ArxivPaper | string {
  const rawId = textOf(entry.id).trim();
  const id = parseArxivAbsId(rawId);
  if (!id) return `id: not an arXiv abstract URL (${JSON.stringify(rawId.slice(0, 100))})`;
  const title = collapseWhitespace(textOf(entry.title));
  if (!title) return 'title: missing';
  const publishedAt = new Date(textOf(entry.published).trim());
  if (Number.isNaN(publishedAt.getTime())) return 'published: missing or not a date';
  const updatedText = textOf(entry.updated).trim();
  const updatedAt = updatedText ? new Date(updatedText) : publishedAt;
  if (Number.isNaN(updatedAt.getTime())) return 'updated: not a date';

  const authors = asNodes(entry.author)
    .map((a) => collapseWhitespace(textOf(a.name)))
    .filter(Boolean);
  const primaryNode = asNodes(entry.primary_category)[0];
  const primaryCategory = primaryNode ? textOf(primaryNode.term).trim() || null : null;
  const categories = [
    ...new Set([
      ...(primaryCategory ? [primaryCategory] : []),
      ...asNodes(entry.category)
        .map((c) => textOf(c.term).trim())
        .filter(Boolean),
    ]),
  ];
  const links = asNodes(entry.link);
  const href = (predicate: (link: XmlNode) => boolean) => {
    const link = links.find(predicate);
    return link ? textOf(link.href).trim() || null : null;
  };
  const doiUrl = href((l) => textOf(l.title) === 'doi');
  const doi = collapseWhitespace(textOf(entry.doi)) || (doiUrl ? doiUrl.replace(/^https?:\/\/(dx\.)?doi\.org\//, '') : '') || null;

  return {
    arxivId: id.arxivId,
    version: id.version,
    title,
    abstract: collapseWhitespace(textOf(entry.summary)),
    authors,
    categories,
    primaryCategory,
    publishedAt,
    updatedAt,
    absUrl: href((l) => textOf(l.rel) === 'alternate') ?? rawId,
    pdfUrl: href((l) => textOf(l.title) === 'pdf' || textOf(l.type) === 'application/pdf'),
    doi,
    doiUrl,
    comment: collapseWhitespace(textOf(entry.comment)) || null,
    journalRef: collapseWhitespace(textOf(entry.journal_ref)) || null,
  };
}

export function createArxivClient(options: ArxivClientOptions): ArxivClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const headers = {
    accept: 'application/atom+xml, application/xml;q=0.9',
    'user-agent': options.userAgent ?? 'paperboy (self-hosted newsletter)',
  };
  const log = options.log;
  return {
    baseUrl,
    async query(query, { signal } = {}) {
      const url = buildArxivQueryUrl(baseUrl, query);
      const response = await fetchWithRetry(url, {
        ...sourceHttpOptions(options),
        headers,
        signal,
        onRetry: (event) => log?.warn(event, 'retrying arXiv API request'),
      });
      const body = response.body.toString('utf8');
      if (response.status < 200 || response.status > 299) {
        // arXiv explains a bad query in an error feed, usually with HTTP 400: surface its words.
        try {
          parseArxivFeed(body, url);
        } catch (error) {
          if (error instanceof PaperSourceError && error.code === 'ARXIV_API_ERROR') {
            error.attempts = response.attempts;
            throw error;
          }
        }
        throw new PaperSourceError('HTTP_STATUS', `${url} answered HTTP ${response.status}`, {
          url,
          status: response.status,
          attempts: response.attempts,
        });
      }
      const feed = parseArxivFeed(body, url);
      if (feed.invalid.length > 0) log?.warn({ url, invalid: feed.invalid }, 'skipped invalid arXiv entries');
      return feed;
    },
  };
}
