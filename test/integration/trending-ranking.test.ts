import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaperRecord } from '../../src/papers/hf-item.ts';
import { insertPaperStats, upsertPapers } from '../../src/papers/paper.repository.ts';
import {
  digestFeaturedDays,
  findTopPapersForDigestDay,
  findTrendingPapers,
  trendingPapersQuery,
} from '../../src/papers/trending.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const HOUR = 3_600_000;
const asOf = new Date('2025-12-26T12:00:00Z');
const hoursBefore = (h: number) => new Date(asOf.getTime() - h * HOUR);

function paper(arxivId: string, featuredOn: string | null, upvotes: number, comments = 0, extra: Partial<PaperRecord> = {}): PaperRecord {
  return {
    arxivId,
    title: `Paper ${arxivId}`,
    abstract: '',
    authors: [],
    organization: null,
    publishedAt: null,
    featuredOn,
    upvotes,
    comments,
    githubUrl: null,
    projectUrl: null,
    thumbnailUrl: null,
    withdrawnAt: null,
    ...extra,
  };
}

async function snapshot(arxivId: string, at: Date, upvotes: number, comments = 0): Promise<void> {
  await insertPaperStats(testDb.db, [{ arxivId, upvotes, comments }], at);
}

const expectedScore = (upvotes: number, comments: number, hours: number) => (upvotes + 0.5 * comments) / (hours + 2) ** 1.8;

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

describe('findTrendingPapers', () => {
  // Ids are chosen so that id order differs from the expected ranking.
  const A = '2512.00001'; // Fri, 10 up: ties with C on score, grew 5 in 24 h
  const B = '2512.00002'; // Thu, 30 up + 4 comments
  const K = '2512.00003'; // Fri, 3 up + 2 comments = score of 4 up; no history
  const D = '2512.00004'; // Sat a week ago, 200 up: old, so last
  const L = '2512.00005'; // Fri, 4 up, no history; more upvotes than K
  const M = '2512.00006'; // Fri, 4 up, no history; same as L but a later id
  const J = '2512.00008'; // Fri, 4 up, watched for under a day: grew 3
  const C = '2512.00009'; // Fri, 8 up + 4 comments = 10; grew 8 in 24 h

  beforeAll(async () => {
    await upsertPapers(testDb.db, [
      paper(A, '2025-12-26', 10),
      paper(B, '2025-12-25', 30, 4),
      paper(C, '2025-12-26', 8, 4),
      paper(D, '2025-12-20', 200),
      paper(J, '2025-12-26', 4),
      paper(K, '2025-12-26', 3, 2),
      paper(L, '2025-12-26', 4),
      paper(M, '2025-12-26', 4),
      // Never ranked: outside the window, featured after asOf, withdrawn, never featured.
      paper('2512.00010', '2025-12-19', 1000),
      paper('2512.00011', '2025-12-27', 1000),
      paper('2512.00012', '2025-12-26', 1000, 0, { withdrawnAt: new Date('2025-12-26T09:00:00Z') }),
      paper('2512.00013', null, 1000),
    ]);
    // A: baseline is the last snapshot at least 24 h old (5), not the older 2; a snapshot after
    // asOf is ignored.
    await snapshot(A, hoursBefore(40), 2);
    await snapshot(A, hoursBefore(30), 5);
    await snapshot(A, hoursBefore(10), 7);
    await snapshot(A, hoursBefore(1), 10);
    await snapshot(A, new Date(asOf.getTime() + HOUR), 100);
    // C: 0 a day ago, 8 now.
    await snapshot(C, hoursBefore(26), 0);
    await snapshot(C, hoursBefore(2), 8, 4);
    // J: first seen 5 hours ago with 1 upvote.
    await snapshot(J, hoursBefore(5), 1);
    await snapshot(J, hoursBefore(1), 4);
    // B: lots of growth, but its score is lower anyway.
    await snapshot(B, hoursBefore(25), 0);
    await snapshot(B, hoursBefore(1), 30, 4);
  });
  afterAll(async () => {
    await sql`truncate papers cascade`.execute(testDb.db);
  });

  it('ranks by gravity score, breaking ties by 24-hour growth, then upvotes, then id', async () => {
    const ranked = await findTrendingPapers(testDb.db, { asOf, days: 7, limit: 20 });
    expect(ranked.map((p) => p.arxiv_id)).toEqual([C, A, B, J, L, M, K, D]);
    expect(ranked.map((p) => p.upvoteGrowth24h)).toEqual([8, 5, 30, 3, 0, 0, 0, 0]);
    const byId = new Map(ranked.map((p) => [p.arxiv_id, p]));
    expect(byId.get(A)!.score).toBeCloseTo(expectedScore(10, 0, 12), 12);
    expect(byId.get(C)!.score).toBe(byId.get(A)!.score);
    expect(byId.get(B)!.score).toBeCloseTo(expectedScore(30, 4, 36), 12);
    expect(byId.get(D)!.score).toBeCloseTo(expectedScore(200, 0, 6 * 24 + 12), 12);
    expect(byId.get(K)!.score).toBe(byId.get(L)!.score);
  });

  it('honours days, limit and excludeIds', async () => {
    const lastDay = await findTrendingPapers(testDb.db, { asOf, days: 1, limit: 20 });
    expect(lastDay.map((p) => p.arxiv_id)).toEqual([C, A, J, L, M, K]);
    const top3 = await findTrendingPapers(testDb.db, { asOf, limit: 3 });
    expect(top3.map((p) => p.arxiv_id)).toEqual([C, A, B]);
    const excluding = await findTrendingPapers(testDb.db, { asOf, limit: 4, excludeIds: [C, B, 'not-there'] });
    expect(excluding.map((p) => p.arxiv_id)).toEqual([A, J, L, M]);
  });

  it('ranks as of an earlier instant, with growth measured from snapshots up to then', async () => {
    // At Thursday 20:00 Friday's papers are in the future, and the 7-day window now reaches back
    // to the 19th. B grew 0 → 30 between its snapshots, but the later one is after this asOf.
    const earlier = new Date('2025-12-25T20:00:00Z');
    const ranked = await findTrendingPapers(testDb.db, { asOf: earlier, days: 7, limit: 20 });
    expect(ranked.map((p) => p.arxiv_id)).toEqual([B, '2512.00010', D]);
    expect(ranked[0]!.upvoteGrowth24h).toBe(0);
    expect(ranked[0]!.score).toBeCloseTo(expectedScore(30, 4, 20), 12);
  });

  it('rejects nonsense options', async () => {
    await expect(findTrendingPapers(testDb.db, { asOf, limit: 0 })).rejects.toThrow(RangeError);
    await expect(findTrendingPapers(testDb.db, { asOf: new Date('nope'), limit: 5 })).rejects.toThrow(RangeError);
    await expect(findTrendingPapers(testDb.db, { asOf, days: 0, limit: 5 })).rejects.toThrow(RangeError);
  });
});

describe('trending query plan', () => {
  afterAll(async () => {
    await sql`truncate papers cascade`.execute(testDb.db);
  });

  it('is one statement served by the window index and index-only growth lookups', async () => {
    // 4,000 papers over 100 days with 3 snapshots each: enough that the planner prefers indexes.
    const start = Date.parse('2025-09-18T00:00:00Z');
    const records = Array.from({ length: 4000 }, (_, i) =>
      paper(`2509.${String(i).padStart(5, '0')}`, new Date(start + (i % 100) * 86_400_000).toISOString().slice(0, 10), i % 97, i % 5),
    );
    await upsertPapers(testDb.db, records);
    for (const h of [30, 12, 1]) await insertPaperStats(testDb.db, records.map((r) => ({ ...r, upvotes: r.upvotes })), hoursBefore(h));
    await sql`vacuum analyze papers`.execute(testDb.db);
    await sql`vacuum analyze paper_stats`.execute(testDb.db);

    const plan = await trendingPapersQuery(testDb.db, { asOf, limit: 10, excludeIds: ['2509.00001'] }).explain();
    const text = plan.map((row) => String(Object.values(row)[0])).join('\n');
    expect(text).toContain('papers_trending_window_idx');
    expect(text).toMatch(/Index Only Scan.* using paper_stats_pkey on paper_stats/);
    expect(text).not.toMatch(/Seq Scan on paper_stats/);
  });
});

describe('top of the day for a digest', () => {
  afterAll(async () => {
    await sql`truncate papers cascade`.execute(testDb.db);
  });

  it('covers Saturday and Sunday on a Monday, and only the day otherwise', async () => {
    expect(digestFeaturedDays('2025-12-29')).toEqual(['2025-12-27', '2025-12-28', '2025-12-29']);
    expect(digestFeaturedDays('2025-12-30')).toEqual(['2025-12-30']);
    expect(digestFeaturedDays('2026-03-02')).toEqual(['2026-02-28', '2026-03-01', '2026-03-02']);
    expect(() => digestFeaturedDays('2025-12-29T00:00')).toThrow(RangeError);

    await upsertPapers(testDb.db, [
      paper('2512.10001', '2025-12-26', 50), // Friday: not in Monday's digest
      paper('2512.10002', '2025-12-27', 5, 1), // Saturday
      paper('2512.10003', '2025-12-28', 9), // Sunday
      paper('2512.10004', '2025-12-29', 5, 3), // Monday: ties Saturday on upvotes, more comments
      paper('2512.10005', '2025-12-29', 5, 1), // ties Saturday on upvotes and comments: id decides
      paper('2512.10006', '2025-12-28', 99, 0, { withdrawnAt: new Date('2025-12-29T00:00:00Z') }),
      paper('2512.10007', '2025-12-30', 7), // Tuesday
    ]);
    const monday = await findTopPapersForDigestDay(testDb.db, '2025-12-29', 10);
    expect(monday.map((p) => p.arxiv_id)).toEqual(['2512.10003', '2512.10004', '2512.10002', '2512.10005']);
    expect((await findTopPapersForDigestDay(testDb.db, '2025-12-29', 2)).map((p) => p.arxiv_id)).toEqual(['2512.10003', '2512.10004']);
    const tuesday = await findTopPapersForDigestDay(testDb.db, '2025-12-30', 10);
    expect(tuesday.map((p) => p.arxiv_id)).toEqual(['2512.10007']);
  });
});
