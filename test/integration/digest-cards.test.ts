import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDailyEdition } from '../../src/editions/edition.service.ts';
import type { PaperRecord } from '../../src/papers/hf-item.ts';
import { insertPaperStats, upsertPapers } from '../../src/papers/paper.repository.ts';
import { findCardSignals } from '../../src/papers/trending.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// Issue 10, item 8: each card shows its rise over the last 24 hours (from the ingester's
// paper_stats snapshots) and the Hugging Face AI summary when the source gave one.

const HOUR = 3_600_000;
const DAY = '2025-12-26';
/** The instant the edition for DAY ranks as of: the end of its UTC day. */
const asOf = new Date('2025-12-27T00:00:00Z');
const at = (hoursBefore: number) => new Date(asOf.getTime() - hoursBefore * HOUR);

function paper(arxivId: string, upvotes: number, extra: Partial<PaperRecord> = {}): PaperRecord {
  return {
    arxivId,
    title: `Paper ${arxivId}`,
    abstract: `Abstract of ${arxivId}.`,
    authors: ['A. Author'],
    organization: null,
    publishedAt: null,
    featuredOn: DAY,
    upvotes,
    comments: 0,
    githubUrl: null,
    projectUrl: null,
    thumbnailUrl: null,
    withdrawnAt: null,
    ...extra,
  };
}

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
  await upsertPapers(testDb.db, [
    paper('2512.10001', 50, { aiSummary: 'A robot learns to fold laundry from ten demonstrations.' }),
    paper('2512.10002', 20),
    paper('2512.10003', 7),
  ]);
  // 10001: 12 a day and a half ago, 50 now → +38 over the last 24 h (baseline: last snapshot ≥ 24 h old).
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10001', upvotes: 12, comments: 0 }], at(36));
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10001', upvotes: 30, comments: 0 }], at(12));
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10001', upvotes: 50, comments: 0 }], at(1));
  // 10002: watched for under a day, 19 → 20: +1 from its first snapshot.
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10002', upvotes: 19, comments: 0 }], at(10));
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10002', upvotes: 20, comments: 0 }], at(2));
  // 10003: no snapshots at all. A snapshot after asOf must not count.
  await insertPaperStats(testDb.db, [{ arxivId: '2512.10001', upvotes: 500, comments: 0 }], new Date(asOf.getTime() + HOUR));
});
afterAll(async () => testDb?.drop());

describe('card signals', () => {
  it('measures 24-hour growth from the snapshots up to asOf, and reads the stored AI summary', async () => {
    const signals = await findCardSignals(testDb.db, ['2512.10001', '2512.10002', '2512.10003', '2512.99999'], asOf);
    expect(Object.fromEntries(signals)).toEqual({
      '2512.10001': { upvoteGrowth24h: 38, aiSummary: 'A robot learns to fold laundry from ten demonstrations.' },
      '2512.10002': { upvoteGrowth24h: 1, aiSummary: null },
      '2512.10003': { upvoteGrowth24h: 0, aiSummary: null },
    });
    expect((await findCardSignals(testDb.db, [], asOf)).size).toBe(0);
  });

  it('the daily edition mails them on the cards that have them', async () => {
    const edition = await buildDailyEdition(testDb.db, DAY, { publicUrl: 'https://p.example', maxPapers: 10 });
    expect(edition.status).toBe('ready');
    const cards = edition.text_template.split(/\n(?=\d+\. )/).slice(1);
    expect(cards).toHaveLength(3);
    expect(cards[0]).toMatch(/^1\. Paper 2512\.10001\n.*50 upvotes \(\+38 upvotes today\)/);
    expect(cards[0]).toContain('In short: A robot learns to fold laundry from ten demonstrations. (AI summary by Hugging Face)');
    expect(cards[1]).toContain('20 upvotes (+1 upvote today)');
    expect(cards[1]).not.toContain('In short');
    expect(cards[2]).not.toMatch(/today|In short/);
    expect(edition.html_template).toContain('<span class="momentum">+38 upvotes today</span>');
    expect(edition.html_template).toContain('A robot learns to fold laundry from ten demonstrations.');
  });
});
