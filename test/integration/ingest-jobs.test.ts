import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataFile } from '../../src/papers/import-file.ts';
import { startFakeServer, type FakeServer } from '../helpers/papers-fake-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const sample = JSON.parse(readFileSync(sampleDataFile, 'utf8')) as { publishedAt: string; paper: { id: string; title: string } }[];

const atomEntry = (id: string, title: string) => `
  <entry>
    <id>http://arxiv.org/abs/${id}v1</id>
    <updated>2025-12-01T00:00:00Z</updated>
    <published>2025-12-01T00:00:00Z</published>
    <title>${title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</title>
    <summary>Abstract from arXiv.</summary>
    <author><name>First Author</name></author>
    <link href="https://arxiv.org/abs/${id}v1" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>`;

/** The scheduled path: poll-papers → one ingest job per day → arXiv enrichment behind its limiter. */
describe('scheduled paper ingestion', () => {
  let hf: FakeServer;
  let arxiv: FakeServer;
  let t: TestService;
  const arxivRequestTimes: number[] = [];
  beforeAll(async () => {
    hf = await startFakeServer((_req, res, request) => {
      const day = request.query.get('date') ?? '';
      const items = Number(request.query.get('p') ?? 0) === 0 ? sample.filter((item) => item.publishedAt.startsWith(day)) : [];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(items));
    });
    arxiv = await startFakeServer((_req, res, request) => {
      arxivRequestTimes.push(Date.now());
      const ids = (request.query.get('id_list') ?? '').split(',').filter(Boolean);
      const entries = ids.map((id) => atomEntry(id, sample.find((s) => s.paper.id === id)?.paper.title ?? id)).join('');
      res.writeHead(200, { 'content-type': 'application/atom+xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/test</id><updated>2025-12-26T00:00:00Z</updated><title>ArXiv Query</title>
  <opensearch:totalResults>${ids.length}</opensearch:totalResults><opensearch:startIndex>0</opensearch:startIndex><opensearch:itemsPerPage>${ids.length}</opensearch:itemsPerPage>${entries}
</feed>`);
    });
    t = await startTestService({ HF_API_URL: hf.url, ARXIV_API_URL: arxiv.url, INGEST_DAYS: '8' });
  });
  afterAll(async () => {
    await t?.stop();
    await hf?.close();
    await arxiv?.close();
  });

  it('polls today and the previous days once each, stores the papers and enriches them from arXiv', async () => {
    const db = t.service.db;
    // The scheduler's job as it fires on 2025-12-27 (UTC): today plus the 7 days before.
    await t.service.queues.byName.papers.add('poll-papers', {}, { timestamp: Date.parse('2025-12-27T06:00:00Z') });
    await waitFor(async () => Number((await db.selectFrom('papers').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n) === 50, {
      what: '50 papers ingested',
      timeoutMs: 20_000,
    });
    // Every day's ingest job has finished: now count the first-page requests per day, one each.
    await waitFor(async () => (await t.service.queues.byName.papers.getJobs(['completed'])).filter((j) => j.name === 'ingest-day').length === 8, {
      what: '8 ingest jobs completed',
      timeoutMs: 20_000,
    });
    const pollsPerDay: Record<string, number> = {};
    for (const r of hf.requests) if (Number(r.query.get('p') ?? 0) === 0) pollsPerDay[r.query.get('date')!] = (pollsPerDay[r.query.get('date')!] ?? 0) + 1;
    expect(pollsPerDay).toEqual(Object.fromEntries(['2025-12-20', '2025-12-21', '2025-12-22', '2025-12-23', '2025-12-24', '2025-12-25', '2025-12-26', '2025-12-27'].map((d) => [d, 1])));
    expect(await db.selectFrom('paper_stats').select('arxiv_id').execute()).toHaveLength(50);

    // Five days with papers → five enrichment requests, never two within 3 s of each other.
    await waitFor(async () => (await db.selectFrom('papers').select('arxiv_id').where('primary_category', 'is', null).execute()).length === 0, {
      what: 'every paper enriched',
      timeoutMs: 30_000,
    });
    const enriched = await db.selectFrom('papers').select(['categories', 'primary_category', 'title']).where('arxiv_id', '=', sample[0]!.paper.id).executeTakeFirstOrThrow();
    expect(enriched.primary_category).toBe('cs.LG');
    expect(enriched.categories).toEqual(['cs.LG', 'cs.CL']);
    expect(enriched.title).toBe(sample[0]!.paper.title);
    expect(arxiv.requests.length).toBe(5);
    // arXiv's terms: one request every 3 s. The limiter is BullMQ's, global to the queue.
    const gaps = arxivRequestTimes.slice(1).map((time, i) => time - arxivRequestTimes[i]!);
    // Measured where the requests arrive, so a request that left its worker a little late can sit
    // a little closer to the next one; a missing limiter would show gaps near zero.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_500);
  }, 60_000);
});
