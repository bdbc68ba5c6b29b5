import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recentUtcDays } from '../../src/dates.ts';
import { ingestHfDays } from '../../src/papers/ingest.ts';
import { findTopPapersForDay } from '../../src/papers/paper.repository.ts';
import { createHfDailyPapersClient } from '../../src/papers/sources/hf-daily-papers.ts';
import { PaperSourceError } from '../../src/papers/sources/http.ts';
import { findTopPapersForDigestDay, findTrendingPapers } from '../../src/papers/trending.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { sendJson, startFakeServer, type FakeHandler, type FakeServer } from '../helpers/papers-fake-server.ts';

type SampleItem = {
  paper: Record<string, unknown> & { id: string; submittedOnDailyAt: string; title: string; upvotes: number };
  organization?: unknown;
  [key: string]: unknown;
};
const sample = JSON.parse(readFileSync(new URL('../../data/sample/daily-papers.json', import.meta.url), 'utf8')) as SampleItem[];
const sampleDays = ['2025-12-22', '2025-12-23', '2025-12-24', '2025-12-25', '2025-12-26'];
const clone = <T>(value: T): T => structuredClone(value);

/** A sample item moved to `id`, so hand-made cases never collide with the sample's papers. */
function item(id: string, changes: { paper?: Record<string, unknown>; [key: string]: unknown } = {}): SampleItem {
  const base = clone(sample[0]!);
  const { paper, ...top } = changes;
  return { ...base, ...top, paper: { ...base.paper, id, ...paper } } as SampleItem;
}

let testDb: TestDatabase;
let server: FakeServer;
/** What the fake API answers per date; tests replace entries. */
let byDate: Map<string, unknown>;

const handler: FakeHandler = (_req, res, request) => {
  const body = byDate.get(request.query.get('date') ?? '');
  if (body === undefined) return sendJson(res, 200, []);
  if (typeof body === 'string') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(body);
  }
  if (!Array.isArray(body)) return sendJson(res, 200, body);
  const page = Number(request.query.get('p'));
  const limit = Number(request.query.get('limit'));
  return sendJson(res, 200, body.slice(page * limit, (page + 1) * limit));
};

function sampleByDate(): Map<string, unknown> {
  return new Map(sampleDays.map((day) => [day, sample.filter((i) => i.paper.submittedOnDailyAt.startsWith(day))]));
}

const client = () => createHfDailyPapersClient({ baseUrl: server.url, pageSize: 4, retries: 0, timeoutMs: 2_000 });

beforeAll(async () => {
  testDb = await createTestDatabase();
  server = await startFakeServer((req, res, request, index) => handler(req, res, request, index));
});
afterAll(async () => {
  await server?.close();
  await testDb?.drop();
});
beforeEach(() => {
  byDate = sampleByDate();
});
afterEach(async () => {
  await sql`truncate papers cascade`.execute(testDb.db);
});

async function allPapers() {
  return testDb.db.selectFrom('papers').selectAll().orderBy('arxiv_id').execute();
}

describe('ingestHfDays', () => {
  it('stores the sample file served by a local HF API, with a snapshot per paper', async () => {
    const summary = await ingestHfDays(testDb.db, client(), { dates: sampleDays });
    expect(summary).toMatchObject({ fetched: 50, inserted: 50, updated: 0, invalid: 0 });
    expect(summary.perDate.map((d) => [d.date, d.fetched, d.pages, d.inserted])).toEqual(
      sampleDays.map((day) => [day, 10, 3, 10]),
    );
    const papers = await allPapers();
    expect(papers).toHaveLength(50);
    const tidar = papers.find((p) => p.arxiv_id === '2511.08923')!;
    expect(tidar.organization).toBe('NVIDIA');
    expect(papers.filter((p) => p.organization !== null)).toHaveLength(4);
    const counts = await testDb.db
      .selectFrom('papers')
      .select(['featured_on', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('featured_on')
      .orderBy('featured_on')
      .execute();
    expect(counts).toEqual(sampleDays.map((day) => ({ featured_on: day, n: 10 })));
    const stats = await testDb.db.selectFrom('paper_stats').selectAll().execute();
    expect(stats).toHaveLength(50);
    const x = stats.find((s) => s.arxiv_id === '2507.22058')!;
    expect(x.upvotes).toBe(sample.find((i) => i.paper.id === '2507.22058')!.paper.upvotes);
  });

  it('changes nothing but updated_at and snapshots when the same data is ingested again', async () => {
    const first = new Date('2025-12-26T10:00:00Z');
    const second = new Date('2025-12-26T11:00:00Z');
    await ingestHfDays(testDb.db, client(), { dates: sampleDays, capturedAt: first });
    const before = await allPapers();
    const again = await ingestHfDays(testDb.db, client(), { dates: sampleDays, capturedAt: second });
    expect(again).toMatchObject({ fetched: 50, inserted: 0, updated: 50, invalid: 0 });
    const after = await allPapers();
    const withoutUpdatedAt = (rows: typeof before) => rows.map(({ updated_at: _u, ...rest }) => rest);
    expect(withoutUpdatedAt(after)).toEqual(withoutUpdatedAt(before));
    for (const [i, row] of after.entries()) expect(row.updated_at.getTime()).toBeGreaterThanOrEqual(before[i]!.updated_at.getTime());
    const snapshots = await testDb.db
      .selectFrom('paper_stats')
      .select(['captured_at', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('captured_at')
      .orderBy('captured_at')
      .execute();
    expect(snapshots).toEqual([
      { captured_at: first, n: 50 },
      { captured_at: second, n: 50 },
    ]);
  });

  it('refreshes upvotes and comments on each poll', async () => {
    byDate = new Map([['2025-12-26', [item('2601.00001', { paper: { upvotes: 3 }, numComments: 0 })]]]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    byDate = new Map([['2025-12-26', [item('2601.00001', { paper: { upvotes: 9 }, numComments: 2 })]]]);
    const summary = await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    expect(summary).toMatchObject({ inserted: 0, updated: 1 });
    const row = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect([row.upvotes, row.comments]).toEqual([9, 2]);
    const stats = await testDb.db.selectFrom('paper_stats').select(['upvotes', 'comments']).orderBy('captured_at').execute();
    expect(stats).toEqual([
      { upvotes: 3, comments: 0 },
      { upvotes: 9, comments: 2 },
    ]);
  });

  it('skips and reports items with missing or wrongly typed fields, storing the valid ones', async () => {
    const items: unknown[] = [
      item('2601.00010'),
      { paper: { title: 'no id', upvotes: 1 } },
      item('2601.00011', { paper: { upvotes: '12' } }),
      item('2601.00012', { paper: { title: 42 } }),
      item('2601.00013', { paper: { authors: 'Ada Lovelace' } }),
      item('2601.00014', { numComments: -1 }),
      item('not an arxiv id'),
      null,
      'a string',
      { paper: null },
      item('2601.00015', { paper: { publishedAt: 'yesterday' } }),
      item('2601.00016'),
    ];
    byDate = new Map([['2025-12-26', items]]);
    const summary = await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    expect(summary).toMatchObject({ fetched: 12, inserted: 2, invalid: 10 });
    const invalid = summary.perDate[0]!.invalid;
    expect(invalid.map((i) => i.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const reasonOf = (index: number) => invalid.find((i) => i.index === index)!.reason;
    expect(reasonOf(1)).toContain('paper.id');
    expect(reasonOf(2)).toContain('paper.upvotes');
    expect(reasonOf(3)).toContain('paper.title');
    expect(reasonOf(4)).toContain('paper.authors');
    expect(reasonOf(5)).toContain('numComments');
    expect(reasonOf(6)).toContain('not an arXiv id');
    expect(reasonOf(10)).toContain('paper.publishedAt');
    expect((await allPapers()).map((p) => p.arxiv_id)).toEqual(['2601.00010', '2601.00016']);
  });

  it('stores HTML and script in titles as plain text, verbatim (escaping is the renderer’s job)', async () => {
    const title = '<script>alert("x")</script> Attention & <b>Everything</b> &amp; more';
    byDate = new Map([['2025-12-26', [item('2601.00020', { title, paper: { title, summary: '<img src=x onerror=alert(1)>' } })]]]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    const row = await testDb.db.selectFrom('papers').select(['title', 'abstract']).executeTakeFirstOrThrow();
    expect(row.title).toBe(title);
    expect(row.abstract).toBe('<img src=x onerror=alert(1)>');
  });

  it('merges duplicated ids within a day (last one wins) and counts them', async () => {
    byDate = new Map([
      [
        '2025-12-26',
        [item('2601.00030', { paper: { upvotes: 1 } }), item('2601.00031'), item('2601.00030v2', { paper: { upvotes: 5 } })],
      ],
    ]);
    const summary = await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    expect(summary.perDate[0]).toMatchObject({ fetched: 3, inserted: 2, duplicates: 1 });
    const row = await testDb.db.selectFrom('papers').select('upvotes').where('arxiv_id', '=', '2601.00030').executeTakeFirstOrThrow();
    expect(row.upvotes).toBe(5);
    expect(await testDb.db.selectFrom('paper_stats').selectAll().execute()).toHaveLength(2);
  });

  it('reads the organization at item level or paper level', async () => {
    const org = (name: string, fullname: string) => ({ _id: '0'.repeat(24), name, fullname, avatar: 'https://example.org/a.png' });
    byDate = new Map([
      [
        '2025-12-26',
        [
          item('2601.00040', { organization: org('item-org', 'Item Org') }),
          item('2601.00041', { paper: { organization: org('paper-org', 'Paper Org') } }),
          item('2601.00042', { organization: { name: 'only-handle' } }),
          item('2601.00043', { organization: null, paper: { organization: null } }),
        ],
      ],
    ]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    expect((await allPapers()).map((p) => p.organization)).toEqual(['Item Org', 'Paper Org', 'only-handle', null]);
  });

  it('keeps optional HF fields (ai_summary, ai_keywords, githubStars) and does not erase them when a poll omits them', async () => {
    byDate = new Map([
      [
        '2025-12-26',
        [item('2601.00050', { paper: { ai_summary: ' A  short\nsummary ', ai_keywords: ['diffusion', ' LLM '], githubStars: 12, githubRepo: 'https://github.com/a/b' } })],
      ],
    ]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    byDate = new Map([['2025-12-26', [item('2601.00050')]]]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    const row = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ ai_summary: 'A short summary', ai_keywords: ['diffusion', 'LLM'], github_stars: 12, github_url: 'https://github.com/a/b' });
  });

  it('keeps withdrawn papers out of top-of-the-day, digest-day and trending selections', async () => {
    byDate = new Map([
      [
        '2025-12-26',
        [item('2601.00060', { paper: { upvotes: 99, withdrawnAt: '2025-12-26T15:00:00.000Z' } }), item('2601.00061', { paper: { upvotes: 1 } })],
      ],
    ]);
    await ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] });
    const withdrawn = await testDb.db.selectFrom('papers').select('withdrawn_at').where('arxiv_id', '=', '2601.00060').executeTakeFirstOrThrow();
    expect(withdrawn.withdrawn_at).toEqual(new Date('2025-12-26T15:00:00.000Z'));
    expect((await findTopPapersForDay(testDb.db, '2025-12-26', 10)).map((p) => p.arxiv_id)).toEqual(['2601.00061']);
    expect((await findTopPapersForDigestDay(testDb.db, '2025-12-26', 10)).map((p) => p.arxiv_id)).toEqual(['2601.00061']);
    const trending = await findTrendingPapers(testDb.db, { asOf: new Date('2025-12-26T20:00:00Z'), limit: 10 });
    expect(trending.map((p) => p.arxiv_id)).toEqual(['2601.00061']);
  });

  it('stores nothing when any date’s response is not an array', async () => {
    byDate.set('2025-12-24', { error: 'Invalid date' });
    const error = await ingestHfDays(testDb.db, client(), { dates: sampleDays }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaperSourceError);
    expect((error as PaperSourceError).code).toBe('NOT_AN_ARRAY');
    expect(await allPapers()).toEqual([]);
    expect(await testDb.db.selectFrom('paper_stats').selectAll().execute()).toEqual([]);
  });

  it('stores nothing when a response is not JSON', async () => {
    byDate.set('2025-12-26', '<html>oops</html>');
    await expect(ingestHfDays(testDb.db, client(), { dates: sampleDays })).rejects.toMatchObject({ code: 'INVALID_JSON' });
    expect(await allPapers()).toEqual([]);
  });

  it('writes a date’s papers and snapshots in one transaction', async () => {
    // Make the snapshot insert fail after the papers upsert has run in the same transaction.
    await sql`create function paper_stats_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused by test'; end $$`.execute(testDb.db);
    await sql`create trigger paper_stats_refuse before insert on paper_stats for each row execute function paper_stats_refuse()`.execute(testDb.db);
    try {
      await expect(ingestHfDays(testDb.db, client(), { dates: ['2025-12-26'] })).rejects.toThrow(/refused by test/);
      expect(await allPapers()).toEqual([]);
    } finally {
      await sql`drop trigger paper_stats_refuse on paper_stats`.execute(testDb.db);
      await sql`drop function paper_stats_refuse()`.execute(testDb.db);
    }
  });

  it('joins a caller’s transaction when given one', async () => {
    const rollback = new Error('roll back');
    await expect(
      testDb.db.transaction().execute(async (trx) => {
        const summary = await ingestHfDays(trx, client(), { dates: ['2025-12-26'] });
        expect(summary.inserted).toBe(10);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await allPapers()).toEqual([]);
  });

  it('rejects malformed dates before fetching', async () => {
    await expect(ingestHfDays(testDb.db, client(), { dates: ['2025-12-32'] })).rejects.toThrow(RangeError);
  });
});

describe('recentUtcDays', () => {
  it('lists today and the previous days in UTC, newest first', () => {
    expect(recentUtcDays(new Date('2025-12-26T23:30:00-05:00'), 3)).toEqual(['2025-12-27', '2025-12-26', '2025-12-25']);
    expect(recentUtcDays(new Date('2025-03-01T00:00:00Z'), 2)).toEqual(['2025-03-01', '2025-02-28']);
  });
});
