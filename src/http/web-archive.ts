import { XMLBuilder } from 'fast-xml-parser';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import {
  findPublicEdition,
  findRecentPublicEditions,
  listPublicEditionDays,
  listPublicEditions,
  type EditionKind,
} from '../editions/archive.repository.ts';
import { archivePath } from '../editions/archive-urls.ts';
import { findPapersByIds } from '../papers/paper.repository.ts';
import { findTopicEntryKeys } from '../papers/topic-search.ts';
import { renderArchivePage, renderEditionPage } from './archive-views.ts';
import { cachedTopicEntry, FEED_TYPES, FeedEntryCache, renderEditionsFeed, renderTopicFeedFromEntries, topicFeedEntry, topicFeedUpdated, type FeedFormat } from './feeds.ts';
import { cachedBody, TtlCache, type CachedBody } from './http-cache.ts';

export const ARCHIVE_PAGE_SIZE = 30;
export const FEED_EDITIONS = 20;
export const TOPIC_FEED_PAPERS = 30;
/**
 * Rendered topic-feed entries kept (FeedEntryCache): about two formats of every paper of a
 * 30-day window at 50–100 papers a day, ~2.5 kB each at most (an Atom entry with a 1,200-character
 * excerpt), so ~10 MB.
 */
export const TOPIC_FEED_ENTRIES = 4_000;
const HTML = 'text/html; charset=utf-8';

/**
 * The public pages and feeds, rendered once and served from memory:
 * - an edition's page never changes once the edition exists, so it is rendered on its first
 *   request and kept (bounded; an evicted page is rendered again from the same content);
 * - the archive list, the edition feeds and the sitemap change when an edition is published and
 *   are kept for WEB_CACHE_SECONDS;
 * - a topic feed is kept per normalised topic for TOPIC_FEED_CACHE_SECONDS; past that its search
 *   runs again, but the entries of papers already rendered are reused (FeedEntryCache).
 * A "not found" is never kept: the edition may be built a minute later.
 */
export function createWebArchive(deps: { db: Database; config: Config }) {
  const { db, config } = deps;
  const publicUrl = config.publicUrl;
  const editionPages = new TtlCache<CachedBody | undefined>(Number.MAX_SAFE_INTEGER, 1_000);
  const lists = new TtlCache<CachedBody | undefined>(config.web.cacheMs, 200);
  const topics = new TtlCache<CachedBody>(config.web.topicFeedCacheMs, 500);
  const topicEntries = new FeedEntryCache(TOPIC_FEED_ENTRIES);
  const found = (value: CachedBody | undefined) => value !== undefined;

  return {
    editionPage(kind: EditionKind, firstDay: string, lastDay: string): Promise<CachedBody | undefined> {
      return editionPages.getOrLoadIf(
        `${kind}:${firstDay}`,
        async () => {
          const edition = await findPublicEdition(db, kind, firstDay, lastDay);
          return edition && cachedBody(await renderEditionPage(edition, publicUrl), HTML, edition.createdAt);
        },
        found,
      );
    },

    /** Page `page` (1-based) of the archive list; undefined past the last page. */
    archiveList(page: number): Promise<CachedBody | undefined> {
      return lists.getOrLoadIf(
        `archive:${page}`,
        async () => {
          const { total, entries } = await listPublicEditions(db, { offset: (page - 1) * ARCHIVE_PAGE_SIZE, limit: ARCHIVE_PAGE_SIZE });
          const pages = Math.max(1, Math.ceil(total / ARCHIVE_PAGE_SIZE));
          if (page > pages) return undefined;
          const html = await renderArchivePage(
            entries,
            {
              page,
              pages,
              newer: page > 1 ? (page === 2 ? '/archive' : `/archive?page=${page - 1}`) : null,
              older: page < pages ? `/archive?page=${page + 1}` : null,
            },
            publicUrl,
          );
          return cachedBody(html, HTML, newest(entries.map((e) => e.createdAt)));
        },
        found,
      );
    },

    editionsFeed(format: FeedFormat): Promise<CachedBody> {
      return lists.getOrLoad(`feed:${format}`, async () => {
        const editions = await findRecentPublicEditions(db, FEED_EDITIONS);
        return cachedBody(renderEditionsFeed(editions, publicUrl, format), FEED_TYPES[format], newest(editions.map((e) => e.createdAt)));
      }) as Promise<CachedBody>;
    },

    /**
     * `topic` as normaliseTopic returned it. The search runs on every load and gives the best
     * papers' keys; whole papers are read only for entries not rendered yet.
     */
    topicFeed(topic: string, format: FeedFormat): Promise<CachedBody> {
      return topics.getOrLoad(`${format}:${topic}`, async () => {
        const builtAt = new Date();
        const keys = await findTopicEntryKeys(db, { topic, limit: TOPIC_FEED_PAPERS });
        // Taken now: the cache may drop an entry while the missing papers are read.
        const kept = keys.map((key) => cachedTopicEntry(key, format, topicEntries));
        const missing = keys.filter((_, i) => kept[i] === undefined).map((key) => key.arxiv_id);
        const fetched = new Map((await findPapersByIds(db, missing)).map((paper) => [paper.arxiv_id, paper]));
        const entries: string[] = [];
        keys.forEach((key, i) => {
          const paper = fetched.get(key.arxiv_id);
          // A paper gone between the two reads is left out.
          const entry = kept[i] ?? (paper && topicFeedEntry(paper, format, topicEntries));
          if (entry !== undefined) entries.push(entry);
        });
        const updated = topicFeedUpdated(keys, builtAt);
        return cachedBody(renderTopicFeedFromEntries(topic, entries, updated, publicUrl, format), FEED_TYPES[format], updated);
      });
    },

    sitemap(): Promise<CachedBody> {
      return lists.getOrLoad('sitemap', async () => {
        const days = await listPublicEditionDays(db);
        const url = (loc: string, lastmod?: Date) => ({ loc: `${publicUrl}${loc}`, ...(lastmod ? { lastmod: lastmod.toISOString().slice(0, 10) } : {}) });
        const xml = new XMLBuilder({ ignoreAttributes: false, format: true }).build({
          '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
          urlset: {
            '@_xmlns': 'http://www.sitemaps.org/schemas/sitemap/0.9',
            url: [url('/'), url('/archive', days[0]?.createdAt), ...days.map((d) => url(archivePath(d.kind, d.digestDate), d.createdAt))],
          },
        }) as string;
        return cachedBody(xml, 'application/xml; charset=utf-8', newest(days.map((d) => d.createdAt)));
      }) as Promise<CachedBody>;
    },
  };
}

export type WebArchive = ReturnType<typeof createWebArchive>;

function newest(dates: readonly Date[], fallback = new Date(0)): Date {
  return dates.reduce((latest, d) => (d > latest ? d : latest), dates.length ? new Date(0) : fallback);
}
