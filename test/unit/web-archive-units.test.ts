import { describe, expect, it } from 'vitest';
import { archivePath, isoWeekDays, isoWeekLabel } from '../../src/editions/archive-urls.ts';
import { XMLParser } from 'fast-xml-parser';
import { cachedTopicEntry, escapeHtml, FeedEntryCache, renderTopicFeed, topicFeedEntry, xmlText, type FeedFormat } from '../../src/http/feeds.ts';
import { cachedBody, notModified, TtlCache } from '../../src/http/http-cache.ts';
import { normaliseTopic } from '../../src/papers/topic-search.ts';
import { digestPaper } from '../helpers/digest-papers.ts';

describe('ISO weeks', () => {
  it('numbers weeks as ISO 8601 does, across year ends', () => {
    expect(isoWeekLabel('2025-12-22')).toBe('2025-W52');
    expect(isoWeekLabel('2025-12-29')).toBe('2026-W01');
    expect(isoWeekLabel('2021-01-03')).toBe('2020-W53');
    expect(isoWeekLabel('2024-12-30')).toBe('2025-W01');
    expect(isoWeekDays('2025-W52')).toEqual({ first: '2025-12-22', last: '2025-12-28' });
    expect(isoWeekDays('2020-W53')).toEqual({ first: '2020-12-28', last: '2021-01-03' });
    expect(isoWeekDays('2026-W01')).toEqual({ first: '2025-12-29', last: '2026-01-04' });
    for (const bad of ['2025-W53', '2025-W00', '2025-W54', '2025-52', '../', '2025-W5', '2025-w52 ']) expect(isoWeekDays(bad), bad).toBeUndefined();
    expect(archivePath('weekly', '2025-12-24')).toBe('/archive/week/2025-W52');
    expect(archivePath('daily', '2025-12-24')).toBe('/archive/2025-12-24');
  });
});

describe('normaliseTopic', () => {
  it('folds case and whitespace, and refuses control characters, empty and long topics', () => {
    expect(normaliseTopic('  Robot\tLearning  ')).toEqual({ ok: true, topic: 'robot learning' });
    expect(normaliseTopic('"Diffusion Models" OR -Survey')).toEqual({ ok: true, topic: '"diffusion models" or -survey' });
    expect(normaliseTopic('Cafe\u0301')).toEqual({ ok: true, topic: 'café' });
    for (const bad of ['', '   ', 'a\u0000b', 'x\u0007', '\u009b', 'a'.repeat(201), 'b'.repeat(10_000)]) expect(normaliseTopic(bad).ok, JSON.stringify(bad.slice(0, 10))).toBe(false);
    expect(normaliseTopic('ä'.repeat(200)).ok).toBe(true);
  });
});

describe('feed text', () => {
  it('drops characters XML 1.0 forbids and escapes HTML without ever producing "]]>"', () => {
    expect(xmlText('a\u0000b\u0001c\td\ufffee\ud800f😀')).toBe('abc\tdef😀');
    expect(escapeHtml('<a href="x">]]>&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;]]&gt;&amp;&#39;&lt;/a&gt;');
  });
});

describe('topic feed entries rendered once', () => {
  const at = (iso: string) => new Date(iso);
  const papers = [
    digestPaper({ arxiv_id: '2512.00001', title: 'PanGu-$α$ <script>alert(1)</script> ]]> & "q"', abstract: `Diffusion ${'word '.repeat(400)}end`, authors: ['Zoë <b>', 'B & C'], upvotes: 12, comments: 3, first_seen_at: at('2025-12-26T13:00:00Z'), updated_at: at('2025-12-26T14:00:00Z'), published_at: at('2025-12-24T00:00:00Z') }),
    digestPaper({ arxiv_id: '2512.00002', title: 'Second\u0000 paper', abstract: 'Short.', authors: [], first_seen_at: at('2025-12-25T13:00:00Z'), updated_at: at('2025-12-25T13:00:00Z') }),
    digestPaper({ arxiv_id: '2512.00003', title: 'Third', authors: Array.from({ length: 12 }, (_, i) => `Author ${i}`), first_seen_at: at('2025-12-20T13:00:00Z'), updated_at: at('2025-12-21T13:00:00Z') }),
  ];
  const builtAt = at('2025-12-27T00:00:00Z');
  const url = 'https://papers.example.test';

  it('gives the same document as rendering every entry, for hits and misses, in both formats', () => {
    for (const format of ['atom', 'json'] as FeedFormat[]) {
      const cache = new FeedEntryCache(100);
      for (const list of [papers, papers.slice(1).reverse(), [], papers]) {
        const whole = renderTopicFeed('diffusion & "x"', list, url, format, builtAt);
        expect(renderTopicFeed('diffusion & "x"', list, url, format, builtAt, cache), `${format}, ${list.length} papers`).toBe(whole);
      }
      expect(cache.size).toBe(3);
    }
    const atom = renderTopicFeed('diffusion', papers, url, 'atom', builtAt, new FeedEntryCache(100));
    const doc = new XMLParser({ ignoreAttributes: false }).parse(atom) as { feed: { entry: { id: string }[] } };
    expect(doc.feed.entry.map((e) => e.id)).toEqual(papers.map((p) => `https://arxiv.org/abs/${p.arxiv_id}`));
  });

  it('renders a paper again once it changed, and keeps at most maxEntries', () => {
    const cache = new FeedEntryCache(2);
    expect(cachedTopicEntry(papers[0]!, 'atom', cache)).toBeUndefined();
    const first = renderTopicFeed('t', [papers[0]!], url, 'atom', builtAt, cache);
    expect(first).toContain('▲ 12 · 3 comments');
    expect(cachedTopicEntry(papers[0]!, 'atom', cache)).toBe(topicFeedEntry(papers[0]!, 'atom', cache));
    expect(cachedTopicEntry(papers[0]!, 'json', cache)).toBeUndefined();
    const changed = { ...papers[0]!, upvotes: 40, updated_at: at('2025-12-26T17:00:00Z') };
    expect(cachedTopicEntry(changed, 'atom', cache)).toBeUndefined();
    expect(renderTopicFeed('t', [changed], url, 'atom', builtAt, cache)).toContain('▲ 40 · 3 comments');
    renderTopicFeed('t', papers, url, 'json', builtAt, cache);
    expect(cache.size).toBe(2);
  });
});

describe('conditional requests', () => {
  const body = cachedBody('hello', 'text/plain', new Date('2025-12-26T08:00:00.500Z'));
  it('matches If-None-Match weakly, falls back to If-Modified-Since, and ignores garbage', () => {
    expect(body.lastModified).toBe('Fri, 26 Dec 2025 08:00:00 GMT');
    expect(notModified(body.etag, undefined, body)).toBe(true);
    expect(notModified(`"x", W/${body.etag}`, undefined, body)).toBe(true);
    expect(notModified('*', undefined, body)).toBe(true);
    expect(notModified('garbage', body.lastModified, body)).toBe(false);
    expect(notModified(undefined, body.lastModified, body)).toBe(true);
    expect(notModified(undefined, 'Fri, 26 Dec 2025 07:59:59 GMT', body)).toBe(false);
    expect(notModified(undefined, 'not a date', body)).toBe(false);
    expect(notModified(undefined, undefined, body)).toBe(false);
  });
});

describe('TtlCache', () => {
  it('loads a key once while fresh, again after expiry, and keeps at most maxEntries', async () => {
    const cache = new TtlCache<number>(1000, 2);
    let loads = 0;
    const load = async () => ++loads;
    expect(await Promise.all([cache.getOrLoad('a', load, 0), cache.getOrLoad('a', load, 0)])).toEqual([1, 1]);
    expect(await cache.getOrLoad('a', load, 999)).toBe(1);
    expect(await cache.getOrLoad('a', load, 1000)).toBe(2);
    await cache.getOrLoad('b', load, 1000);
    await cache.getOrLoad('c', load, 1000);
    expect(cache.size).toBe(2);
    await expect(cache.getOrLoad('d', () => Promise.reject(new Error('down')), 1000)).rejects.toThrow('down');
    expect(await cache.getOrLoad('d', load, 1000)).toBe(5);
    expect(await cache.getOrLoadIf('e', async () => 0, (v) => v > 0)).toBe(0);
    expect(await cache.getOrLoadIf('e', async () => 7, (v) => v > 0)).toBe(7);
  });
});
