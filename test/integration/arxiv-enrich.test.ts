import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaperRecord } from '../../src/papers/hf-item.ts';
import { findTopPapersForDay, upsertArxivPapers, upsertPapers } from '../../src/papers/paper.repository.ts';
import { parseArxivFeed } from '../../src/papers/sources/arxiv.ts';
import { findTrendingPapers } from '../../src/papers/trending.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const feed = parseArxivFeed(readFileSync(new URL('../fixtures/arxiv-feed.xml', import.meta.url), 'utf8'));

function hfRecord(overrides: Partial<PaperRecord> = {}): PaperRecord {
  return {
    arxivId: '2512.20151',
    title: 'QuarkAudio Technical Report',
    abstract: '',
    authors: [],
    organization: null,
    publishedAt: new Date('2025-12-23T00:00:00Z'),
    featuredOn: '2025-12-26',
    upvotes: 7,
    comments: 2,
    githubUrl: null,
    projectUrl: null,
    thumbnailUrl: null,
    withdrawnAt: null,
    ...overrides,
  };
}

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());
afterEach(async () => {
  await sql`truncate papers cascade`.execute(testDb.db);
});

describe('upsertArxivPapers', () => {
  it('inserts arXiv-only papers unfeatured, so editions and trending leave them out', async () => {
    expect(await upsertArxivPapers(testDb.db, feed.papers)).toEqual({ inserted: 3, updated: 0 });
    const row = await testDb.db.selectFrom('papers').selectAll().where('arxiv_id', '=', '2512.20151').executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      title: 'QuarkAudio Technical Report: Unified Audio Understanding and Generation with a Single Tokenizer',
      authors: ['Ada Lovelace', 'Alan Turing'],
      categories: ['cs.SD', 'cs.CL', 'eess.AS'],
      primary_category: 'cs.SD',
      doi: '10.1234/quark.2025.001',
      published_at: new Date('2025-12-23T18:00:01Z'),
      featured_on: null,
      upvotes: 0,
      comments: 0,
    });
    expect(await findTopPapersForDay(testDb.db, '2025-12-26', 10)).toEqual([]);
    expect(await findTrendingPapers(testDb.db, { asOf: new Date('2025-12-27T00:00:00Z'), days: 30, limit: 10 })).toEqual([]);
  });

  it('enriches a featured paper without lowering upvotes, moving featured_on or replacing the HF title', async () => {
    await upsertPapers(testDb.db, [hfRecord()]);
    expect(await upsertArxivPapers(testDb.db, [feed.papers[0]!])).toEqual({ inserted: 0, updated: 1 });
    const row = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      title: 'QuarkAudio Technical Report',
      featured_on: '2025-12-26',
      upvotes: 7,
      comments: 2,
      categories: ['cs.SD', 'cs.CL', 'eess.AS'],
      primary_category: 'cs.SD',
      doi: '10.1234/quark.2025.001',
      // The HF copy had no abstract or authors: arXiv fills them in.
      authors: ['Ada Lovelace', 'Alan Turing'],
      published_at: new Date('2025-12-23T18:00:01Z'),
    });
    expect(row.abstract).toMatch(/^We present QuarkAudio/);

    // A later Daily Papers poll keeps the enrichment.
    await upsertPapers(testDb.db, [hfRecord({ upvotes: 9, abstract: 'HF abstract', authors: ['A. Lovelace'] })]);
    const after = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect(after).toMatchObject({ upvotes: 9, categories: ['cs.SD', 'cs.CL', 'eess.AS'], doi: '10.1234/quark.2025.001', abstract: 'HF abstract' });

    // And arXiv does not overwrite what Daily Papers provided.
    await upsertArxivPapers(testDb.db, [feed.papers[0]!]);
    const again = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect(again).toMatchObject({ upvotes: 9, abstract: 'HF abstract', authors: ['A. Lovelace'], featured_on: '2025-12-26' });
  });

  it('merges duplicates in one batch', async () => {
    const twice = [feed.papers[1]!, { ...feed.papers[1]!, title: 'Later copy' }];
    expect(await upsertArxivPapers(testDb.db, twice)).toEqual({ inserted: 1, updated: 0 });
    expect((await testDb.db.selectFrom('papers').select('title').executeTakeFirstOrThrow()).title).toBe('Later copy');
  });
});
