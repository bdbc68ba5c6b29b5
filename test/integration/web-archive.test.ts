import { request } from 'node:http';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDailyEdition } from '../../src/editions/edition.service.ts';
import { insertPaperStats, upsertPapers } from '../../src/papers/paper.repository.ts';
import { sendDigestTo } from '../helpers/send-digest.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const SAMPLE_DAYS = ['2025-12-26', '2025-12-25', '2025-12-24', '2025-12-23', '2025-12-22'];
const HOSTILE_TITLE = 'PanGu-$α$: <script>alert(1)</script> ]]> & "quotes" \u0001end';
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ['entry', 'link', 'url', 'author'].includes(name) });
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const unescapeHtml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

type AtomEntry = { id: string; title: { '#text': string } | string; updated: string; link: { '@href': string }[]; summary?: unknown; content?: unknown };
type AtomFeed = { feed: { id: string; title: string; updated: string; author: { name: string }[]; link: { '@rel'?: string; '@href': string }[]; entry?: AtomEntry[] } };
const textOf = (v: AtomEntry['title']) => (typeof v === 'string' ? v : v['#text']);

/** Parses and checks an Atom document against RFC 4287's required elements. */
function parseAtom(xml: string): AtomFeed['feed'] {
  expect(XMLValidator.validate(xml)).toBe(true);
  const { feed } = parser.parse(xml) as AtomFeed;
  expect(feed.id).toMatch(/^https:\/\//);
  expect(typeof feed.title).toBe('string');
  expect(feed.updated).toMatch(RFC3339);
  expect(feed.author[0]!.name).toBe('Paperboy');
  expect(feed.link.some((l) => l['@rel'] === 'self')).toBe(true);
  for (const entry of feed.entry ?? []) {
    expect(entry.id).toBeTruthy();
    expect(textOf(entry.title)).toBeTruthy();
    expect(entry.updated).toMatch(RFC3339);
    expect(entry.link[0]!['@href']).toMatch(/^https:\/\//);
  }
  return feed;
}

describe('the digest on the web: archive, feeds, JSON API', () => {
  let t: TestService;
  let sent: Awaited<ReturnType<typeof sendDigestTo>>;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${t.baseUrl}${path}`, { headers: { accept: 'text/html', ...headers } });

  beforeAll(async () => {
    // A first run: the sample papers load and their days' editions are built at start.
    t = await startTestService({ LOAD_SAMPLE_DATA: 'true', WEB_CACHE_SECONDS: '0' });
    sent = await sendDigestTo(t, '2025-12-26', 'archive.reader@example.net');
  });
  afterAll(async () => t?.stop());

  it('lists the sample editions newest first, with feeds announced and share meta', async () => {
    const res = await get('/archive');
    expect(res.status).toBe(200);
    const html = await res.text();
    const days = [...html.matchAll(/href="\/archive\/(\d{4}-\d{2}-\d{2})"/g)].map((m) => m[1]);
    expect(days).toEqual(SAMPLE_DAYS);
    expect(html).toContain('<link rel="alternate" type="application/atom+xml" title="Paperboy: recent editions (Atom)" href="/feed.xml">');
    expect(html).toContain('<link rel="alternate" type="application/feed+json" title="Paperboy: recent editions (JSON Feed)" href="/feed.json">');
    expect(html).toContain('<meta property="og:url" content="https://papers.example.test/archive">');
    // Every page carries the alternate links, the form and token pages included.
    for (const path of ['/', '/archive/2025-12-26', '/archive/2024-01-01', '/u/not-a-token']) {
      expect(await (await get(path)).text()).toContain('href="/feed.xml"');
    }
  });

  it('shows an edition with its cards in mailed order and the figures as mailed', async () => {
    // "View in browser" in both parts of the real digest opens this page.
    expect(sent.viewInBrowser).toBe('https://papers.example.test/archive/2025-12-26');
    expect(sent.html).toContain('href="https://papers.example.test/archive/2025-12-26"');
    const ids = sent.edition.paper_ids;
    const mailed = await t.service.db.selectFrom('papers').select(['arxiv_id', 'upvotes']).where('arxiv_id', '=', ids[0]!).executeTakeFirstOrThrow();
    // Figures move on after the send; the page keeps what was mailed.
    await t.service.db.updateTable('papers').set({ upvotes: mailed.upvotes + 1000 }).where('arxiv_id', '=', ids[0]!).execute();

    const res = await get(new URL(sent.viewInBrowser!).pathname);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    const positions = ids.map((id) => html.indexOf(`href="https://huggingface.co/papers/${id}"`));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(html.indexOf('Top papers of the day')).toBeLessThan(html.indexOf('Trending this week'));
    const firstCard = html.slice(positions[0], positions[1]);
    expect(firstCard).toContain(`▲ ${mailed.upvotes} upvote`);
    expect(firstCard).not.toContain(`▲ ${mailed.upvotes + 1000}`);
    // Every paper link of the email is on the page.
    for (const id of ids) expect(sent.html).toContain(`https://huggingface.co/papers/${id}`);
    expect(html).toMatch(/<meta property="og:title" content="Trending papers, Friday, 26 December 2025: [^"]+">/);
    expect(html).toContain('<meta property="og:type" content="article">');
    expect(html).toContain('<meta name="twitter:card" content="summary');
    expect(html).toContain('<link rel="canonical" href="https://papers.example.test/archive/2025-12-26">');
    await t.service.db.updateTable('papers').set({ upvotes: mailed.upvotes }).where('arxiv_id', '=', ids[0]!).execute();
  });

  it('never shows a personal link or address on a public page, feed or API answer', async () => {
    expect(sent.personal.length).toBeGreaterThanOrEqual(3);
    expect(sent.personal.some((p) => p.startsWith('/u/'))).toBe(true);
    expect(sent.personal.some((p) => p.startsWith('/p/'))).toBe(true);
    const paths = ['/archive', '/archive/2025-12-26', '/feed.xml', '/feed.json', '/feed.xml?topic=diffusion', '/feed.json?topic=model', '/api/editions', '/api/editions/2025-12-26', '/sitemap.xml', '/robots.txt'];
    for (const path of paths) {
      const body = await (await get(path)).text();
      for (const secret of sent.personal) expect(body, `${path} shows ${secret}`).not.toContain(secret);
      expect(body, path).not.toMatch(/\/(u|p)\/[A-Za-z0-9_-]{20,}|%%[A-Z_]+%%|unsubscribe/i);
    }
  });

  it('answers unknown days with a helpful 404 and malformed addresses with a 400, never a 500', async () => {
    const missing = await get('/archive/2024-01-01');
    expect(missing.status).toBe(404);
    const body = await missing.text();
    expect(body).toContain('There is no edition for Monday, 1 January 2024.');
    expect(body).toContain('href="/archive"');
    const cases: [string, number][] = [
      ['/archive/2025-02-30', 400],
      ['/archive/..%2F', 400],
      ['/archive/..%2F..%2Fetc%2Fpasswd', 400],
      ['/archive/%3Cscript%3E', 400],
      ['/archive/2025-12-26%00', 400],
      ['/archive/week/2025-W52', 404],
      ['/archive/week/2025-W53', 400],
      ['/archive/week/%2E%2E%2F', 400],
      ['/archive?page=99', 404],
      ['/archive?page=abc', 400],
      ['/archive?page=0', 400],
      ['/api/editions/2025-02-30', 400],
      ['/api/editions/2024-01-01', 404],
      ['/api/editions/2025-W52', 404],
      ['/api/editions?per_page=1000', 400],
      ['/api/editions?page=-1', 400],
    ];
    for (const [path, status] of cases) {
      const res = await get(path);
      const text = await res.text();
      expect(res.status, path).toBe(status);
      expect(text, path).not.toContain('<script>');
    }
    // Dot segments as sent on the wire (fetch would resolve them before sending).
    for (const path of ['/archive/..', '/archive/../../etc/passwd', '/archive/%2e%2e', '/archive/week/..']) {
      const status = await new Promise<number>((resolve, reject) =>
        request(`${t.baseUrl}${path}`, { path }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on('error', reject)
          .end(),
      );
      expect([400, 404], path).toContain(status);
    }
    const json = await fetch(`${t.baseUrl}/api/editions/2025-02-30`);
    expect(await json.json()).toMatchObject({ error: 'invalid_date' });
  });

  it('serves a valid Atom feed and JSON Feed 1.1 of recent editions with stable ids', async () => {
    const atom = await get('/feed.xml');
    expect(atom.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
    const feed = parseAtom(await atom.text());
    expect(feed.entry!.map((e) => e.link[0]!['@href'])).toEqual(SAMPLE_DAYS.map((d) => `https://papers.example.test/archive/${d}`));
    expect(feed.entry![0]!.id).toBe('tag:papers.example.test,2025-12-26:edition/daily/2025-12-26');
    const again = parseAtom(await (await get('/feed.xml')).text());
    expect(again.entry!.map((e) => e.id)).toEqual(feed.entry!.map((e) => e.id));

    const json = await get('/feed.json');
    expect(json.headers.get('content-type')).toBe('application/feed+json; charset=utf-8');
    const doc = (await json.json()) as { version: string; title: string; feed_url: string; items: { id: string; url: string; title: string; content_html: string; date_published: string }[] };
    expect(doc.version).toBe('https://jsonfeed.org/version/1.1');
    expect(doc.feed_url).toBe('https://papers.example.test/feed.json');
    expect(doc.items.map((i) => i.id)).toEqual(feed.entry!.map((e) => e.id));
    expect(doc.items[0]!.date_published).toMatch(RFC3339);
  });

  it('escapes hostile paper text in feeds and pages', async () => {
    const db = t.service.db;
    await db
      .insertInto('papers')
      .values({ arxiv_id: '2512.99999', title: HOSTILE_TITLE, abstract: 'about pangu ]]> and ]]> twice <img src=x onerror=alert(1)>', authors: ['Eve <eve@example.com> & co'], featured_on: '2025-12-27', upvotes: 7, comments: 0 })
      .execute();
    await buildDailyEdition(db, '2025-12-27', { publicUrl: t.config.publicUrl, maxPapers: 10 });
    const clean = HOSTILE_TITLE.replace('\u0001', '');

    const feed = parseAtom(await (await get('/feed.xml')).text());
    const entry = feed.entry![0]!;
    expect(entry.id).toBe('tag:papers.example.test,2025-12-27:edition/daily/2025-12-27');
    // type="html": the text is escaped HTML, so a reader shows the title literally.
    expect(unescapeHtml(textOf(entry.title))).toBe(`Trending papers, Saturday, 27 December 2025: ${clean}`);

    const topic = await (await get('/feed.xml?topic=pangu')).text();
    const topicFeed = parseAtom(topic);
    expect(topicFeed.entry!.map((e) => e.id)).toContain('https://arxiv.org/abs/2512.99999');
    const paper = topicFeed.entry!.find((e) => e.id === 'https://arxiv.org/abs/2512.99999')!;
    expect(unescapeHtml(textOf(paper.title))).toBe(clean);
    expect(topic).not.toContain('<script>');
    expect(topic).not.toContain('<img');

    const json = (await (await get('/feed.json?topic=pangu')).json()) as { items: { id: string; title: string; authors: { name: string }[] }[] };
    const item = json.items.find((i) => i.id === 'https://arxiv.org/abs/2512.99999')!;
    expect(item.title).toBe(clean);
    expect(item.authors).toEqual([{ name: 'Eve <eve@example.com> & co' }]);

    const page = await (await get('/archive/2025-12-27')).text();
    expect(page).toContain('PanGu-$α$: &lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; &amp; &quot;quotes&quot;');
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img src=x');
  });

  it('feeds a topic with the papers matching it, best first, and answers hostile topics with 400 or an empty feed', async () => {
    const feed = parseAtom(await (await get('/feed.xml?topic=diffusion')).text());
    expect(feed.title).toBe('Paperboy: papers on “diffusion”');
    expect(feed.entry!.length).toBeGreaterThan(0);
    const ids = feed.entry!.map((e) => e.id.replace('https://arxiv.org/abs/', ''));
    const papers = await t.service.db.selectFrom('papers').select(['arxiv_id', 'title', 'abstract', 'ai_keywords']).where('arxiv_id', 'in', ids).execute();
    for (const p of papers) expect(`${p.title} ${p.abstract} ${(p.ai_keywords ?? []).join(' ')}`.toLowerCase()).toMatch(/diffus/);
    // A title match outranks papers that only mention it in the abstract.
    const inTitle = papers.filter((p) => /diffus/i.test(p.title)).map((p) => p.arxiv_id);
    expect(inTitle.length).toBeGreaterThan(0);
    expect(inTitle).toContain(ids[0]);

    const emptyFeeds = ['-', '""', 'or', 'the and of', '<script>alert(1)</script>', "'; drop table papers; --", '!!!', '"unbalanced'];
    for (const topic of emptyFeeds) {
      const res = await get(`/feed.xml?topic=${encodeURIComponent(topic)}`);
      expect(res.status, topic).toBe(200);
      const xml = await res.text();
      const parsed = parseAtom(xml);
      expect(parsed.entry ?? [], topic).toEqual([]);
      expect(xml).not.toContain('<script>');
      const json = await get(`/feed.json?topic=${encodeURIComponent(topic)}`);
      expect(json.status, topic).toBe(200);
      expect(((await json.json()) as { items: unknown[] }).items).toEqual([]);
    }
    expect(parseAtom(await (await get('/feed.xml?topic=%3Cscript%3E')).text()).title).toBe('Paperboy: papers on “<script>”');
    expect(await t.service.db.selectFrom('papers').select('arxiv_id').limit(1).execute()).toHaveLength(1);

    const refused = [`?topic=${'a'.repeat(10_240)}`, '?topic=a%00b', '?topic=%07', '?topic=', '?topic=%20%20', '?topic=a&topic=b', `?topic=${'word '.repeat(60)}`];
    for (const query of refused) {
      const res = await fetch(`${t.baseUrl}/feed.xml${query}`);
      expect(res.status, query.slice(0, 40)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    }
  });

  it('keeps a topic feed for a while per normalised topic', async () => {
    const first = await get('/feed.xml?topic=Token%20Shuffle');
    const etag = first.headers.get('etag')!;
    await t.service.db
      .insertInto('papers')
      .values({ arxiv_id: '2512.88888', title: 'Token shuffle revisited', abstract: 'token shuffle', authors: [], featured_on: '2025-12-26', upvotes: 500, comments: 0 })
      .execute();
    const second = await get('/feed.xml?topic=%20token%20%20SHUFFLE%20');
    expect(second.headers.get('etag')).toBe(etag);
    expect(await second.text()).not.toContain('2512.88888');
    // Another topic is its own entry, and sees the new paper.
    expect(await (await get('/feed.xml?topic=token%20shuffle%20revisited')).text()).toContain('2512.88888');
  });

  it('renders a paper for topic feeds once, and again when ingestion changes it', async () => {
    // Topic feeds reuse each paper's rendered entry across topics and searches
    // (src/http/feeds.ts FeedEntryCache); every topic here is new, so each request searches.
    const record = { arxivId: '2512.66666', title: 'Quokka sampling', abstract: 'Quokka sampling for marsupial diffusion.', authors: ['Q. Author'], organization: null, publishedAt: null, featuredOn: '2025-12-26', upvotes: 70, comments: 1, githubUrl: null, projectUrl: null, thumbnailUrl: null, withdrawnAt: null };
    await upsertPapers(t.service.db, [record]);
    const entryOf = async (topic: string, format: 'xml' | 'json') => {
      const body = await (await get(`/feed.${format}?topic=${encodeURIComponent(topic)}`)).text();
      if (format === 'json') return (JSON.parse(body) as { items: { id: string; title: string; content_html: string }[] }).items.find((i) => i.id.endsWith('2512.66666'));
      return parseAtom(body).entry?.find((e) => e.id.endsWith('2512.66666'));
    };
    expect(JSON.stringify(await entryOf('quokka', 'xml'))).toContain('▲ 70 · 1 comments');
    expect(await entryOf('quokka sampling', 'xml')).toEqual(await entryOf('quokka', 'xml'));
    expect((await entryOf('quokka', 'json'))?.title).toBe('Quokka sampling');
    await upsertPapers(t.service.db, [{ ...record, title: 'Quokka sampling, revised', upvotes: 95 }]);
    const changed = JSON.stringify(await entryOf('marsupial', 'xml'));
    expect(changed).toContain('▲ 95 · 1 comments');
    expect(changed).toContain('Quokka sampling, revised');
    expect((await entryOf('marsupial', 'json'))?.title).toBe('Quokka sampling, revised');
    // Only the title changes: updated_at alone tells the entry is stale.
    await upsertPapers(t.service.db, [{ ...record, title: 'Quokka sampling, third', upvotes: 95 }]);
    expect(JSON.stringify(await entryOf('quokka marsupial', 'xml'))).toContain('Quokka sampling, third');
  });

  it('answers conditional requests with 304 and ignores validators it cannot parse', async () => {
    for (const path of ['/archive', '/archive/2025-12-26', '/feed.xml', '/feed.json', '/feed.xml?topic=diffusion', '/api/editions', '/api/editions/2025-12-26', '/sitemap.xml']) {
      const first = await get(path);
      expect(first.status, path).toBe(200);
      const etag = first.headers.get('etag')!;
      const lastModified = first.headers.get('last-modified')!;
      expect(etag, path).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(new Date(lastModified).toUTCString(), path).toBe(lastModified);
      await first.arrayBuffer();

      const cached = await get(path, { 'if-none-match': etag });
      expect(cached.status, path).toBe(304);
      expect(await cached.text()).toBe('');
      expect(cached.headers.get('etag')).toBe(etag);
      expect((await get(path, { 'if-none-match': `"other", W/${etag}` })).status, path).toBe(304);
      expect((await get(path, { 'if-modified-since': lastModified })).status, path).toBe(304);
      for (const garbage of ['garbage', '"unterminated', 'W/', ',,,', '"a"'.repeat(2000)]) {
        const res = await get(path, { 'if-none-match': garbage });
        expect(res.status, `${path} ${garbage.slice(0, 20)}`).toBe(200);
        await res.arrayBuffer();
      }
      // An If-None-Match that does not match wins over a matching If-Modified-Since (RFC 9110 §13.2.2).
      expect((await get(path, { 'if-none-match': '"nope"', 'if-modified-since': lastModified })).status, path).toBe(200);
    }
    const head = await fetch(`${t.baseUrl}/archive/2025-12-26`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBeTruthy();
  });

  it('pages the JSON API and gives an edition with its papers as mailed', async () => {
    const page1 = (await (await fetch(`${t.baseUrl}/api/editions?per_page=2`)).json()) as { editions: { date: string; url: string }[]; total: number; next: string | null; prev: string | null };
    expect(page1.total).toBe(6);
    expect(page1.editions.map((e) => e.date)).toEqual(['2025-12-27', '2025-12-26']);
    expect(page1.prev).toBeNull();
    const page2 = (await (await fetch(page1.next!.replace('https://papers.example.test', t.baseUrl))).json()) as typeof page1;
    expect(page2.editions.map((e) => e.date)).toEqual(['2025-12-25', '2025-12-24']);
    expect(page2.prev).toBe('https://papers.example.test/api/editions?page=1&per_page=2');
    const last = (await (await fetch(`${t.baseUrl}/api/editions?per_page=2&page=3`)).json()) as typeof page1;
    expect(last.next).toBeNull();

    const detail = (await (await fetch(`${t.baseUrl}/api/editions/2025-12-26`)).json()) as { kind: string; url: string; papers: { arxiv_id: string; position: number; section: string; upvotes: number }[] };
    expect(detail.kind).toBe('daily');
    expect(detail.url).toBe('https://papers.example.test/archive/2025-12-26');
    expect(detail.papers.map((p) => p.arxiv_id)).toEqual(sent.edition.paper_ids);
    expect(detail.papers.map((p) => p.position)).toEqual(sent.edition.paper_ids.map((_, i) => i + 1));
    expect(new Set(detail.papers.map((p) => p.section))).toEqual(new Set(['top', 'trending']));
  });

  it('publishes a sitemap of every edition and a robots.txt that keeps token pages and /admin out', async () => {
    const xml = await (await get('/sitemap.xml')).text();
    expect(XMLValidator.validate(xml)).toBe(true);
    const { urlset } = parser.parse(xml) as { urlset: { '@xmlns': string; url: { loc: string; lastmod?: string }[] } };
    expect(urlset['@xmlns']).toBe('http://www.sitemaps.org/schemas/sitemap/0.9');
    const locs = urlset.url.map((u) => u.loc);
    for (const day of SAMPLE_DAYS) expect(locs).toContain(`https://papers.example.test/archive/${day}`);
    expect(locs).toContain('https://papers.example.test/archive');

    const robots = await (await get('/robots.txt')).text();
    for (const line of ['Disallow: /u/', 'Disallow: /p/', 'Disallow: /confirm/', 'Disallow: /admin', 'Sitemap: https://papers.example.test/sitemap.xml']) {
      expect(robots.split('\n')).toContain(line);
    }
  });

  // Last: it publishes another edition, which the counts above do not expect.
  it('shows each card with the momentum it was mailed with, after the snapshots are gone', async () => {
    const db = t.service.db;
    await db
      .insertInto('papers')
      .values({ arxiv_id: '2512.77777', title: 'Rising paper', abstract: 'rises', authors: ['A. Author'], featured_on: '2025-12-28', upvotes: 50, comments: 0 })
      .execute();
    // The edition of 2025-12-28 ranks as of 2025-12-29T00:00Z: 12 upvotes a day and a half before, 50 an hour before.
    await insertPaperStats(db, [{ arxivId: '2512.77777', upvotes: 12, comments: 0 }], new Date('2025-12-27T12:00:00Z'));
    await insertPaperStats(db, [{ arxivId: '2512.77777', upvotes: 50, comments: 0 }], new Date('2025-12-28T23:00:00Z'));
    await buildDailyEdition(db, '2025-12-28', { publicUrl: t.config.publicUrl, maxPapers: 10 });
    const mailed = await db.selectFrom('editions').select('html_template').where('digest_date', '=', '2025-12-28').executeTakeFirstOrThrow();
    expect(mailed.html_template).toContain('<span class="momentum">+38 upvotes today</span>');
    await db.deleteFrom('paper_stats').where('arxiv_id', '=', '2512.77777').execute();

    const page = await (await get('/archive/2025-12-28')).text();
    expect(page).toContain('▲ 50 upvotes (<span class="momentum">+38 upvotes today</span>)');
    const feed = parseAtom(await (await get('/feed.xml')).text());
    const entry = feed.entry!.find((e) => e.id.endsWith('/2025-12-28'))!;
    expect(JSON.stringify(entry.content ?? entry.summary)).toContain('+38 upvotes today');
    const api = (await (await fetch(`${t.baseUrl}/api/editions/2025-12-28`)).json()) as { papers: { arxiv_id: string; upvote_growth_24h: number }[] };
    expect(api.papers.find((p) => p.arxiv_id === '2512.77777')!.upvote_growth_24h).toBe(38);
    // A card without a rise shows none.
    expect(await (await get('/archive/2025-12-26')).text()).not.toContain('upvotes today');
  });
});
