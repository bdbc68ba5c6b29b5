import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchTopics } from '../../src/editions/variant.service.ts';
import { createDatabase } from '../../src/db/database.ts';
import { ABSTRACT_ONLY_RELEVANCE, findPapersForTopic, findTopicEntryKeys, topicSearchQuery } from '../../src/papers/topic-search.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const DAY = '2025-12-26';
const filler = 'We study a problem and report results on standard benchmarks with careful ablations.';

describe('topic matching and ranking (issue 13: the topic feeds and "for you" share it)', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    const paper = (arxiv_id: string, title: string, abstract: string, upvotes: number, ai_keywords: string[] | null = null, featured_on = DAY) => ({
      arxiv_id,
      title,
      abstract,
      authors: ['A. Author'],
      featured_on,
      upvotes,
      comments: 0,
      ai_keywords,
    });
    await testDb.db
      .insertInto('papers')
      .values([
        paper('2512.00001', 'Latent Diffusion for $\\alpha$-Stable Noise', filler, 1),
        paper('2512.00002', 'Keyword Paper on Image Synthesis', filler, 1, ['diffusion', 'images']),
        paper('2512.00003', 'A Popular Paper on Transformers', `${filler} Compared with diffusion baselines.`, 900),
        paper('2512.00004', 'A Quiet Paper on Transformers', `${filler} Compared with diffusion baselines.`, 2),
        paper('2512.00005', 'Unrelated Work on Compilers', filler, 500),
        paper('2511.00006', 'Old Diffusion Paper', filler, 50, null, '2025-10-01'),
        paper('2512.00007', 'Robot Manipulation at Scale', `${filler} Policies trained with learning from demonstrations.`, 300),
      ])
      .execute();
  });
  afterAll(async () => testDb?.drop());

  it('ranks title over keywords over abstract-only matches; abstract-only matches by momentum', async () => {
    const found = await findPapersForTopic(testDb.db, { topic: 'diffusion', limit: 10 });
    expect(found.map((p) => p.arxiv_id)).toEqual(['2512.00001', '2512.00002', '2512.00003', '2512.00004']);
    // A fixed, small relevance for abstract-only matches, however much they are upvoted.
    expect(found[2]!.relevance).toBeCloseTo(ABSTRACT_ONLY_RELEVANCE, 6);
    expect(found[3]!.relevance).toBeCloseTo(ABSTRACT_ONLY_RELEVANCE, 6);
    expect(found[0]!.relevance).toBeGreaterThan(found[1]!.relevance);
    expect(found[1]!.relevance).toBeGreaterThan(ABSTRACT_ONLY_RELEVANCE);
    // Ids and LaTeX come back as stored.
    expect(found[0]!.title).toBe('Latent Diffusion for $\\alpha$-Stable Noise');
  });

  it('treats a topic whose words are split between title and abstract as an abstract-only match', async () => {
    const [robot] = await findPapersForTopic(testDb.db, { topic: 'robot learning', limit: 10 });
    expect(robot?.arxiv_id).toBe('2512.00007');
    expect(robot!.relevance).toBeCloseTo(ABSTRACT_ONLY_RELEVANCE, 6);
  });

  it('gives the topic feeds the same papers in the same order, from one statement prepared per connection', async () => {
    const one = createDatabase(testDb.url, { max: 1 });
    try {
      // More than five executions: past them PostgreSQL may switch to the statement's generic plan.
      for (const topic of ['diffusion', 'robot learning', 'transformers', 'diffusion -latent', 'nothing at all', 'diffusion', 'compilers', 'or', 'diffusion']) {
        for (const limit of [2, 10]) {
          const full = await findPapersForTopic(one, { topic, limit });
          const keys = await findTopicEntryKeys(one, { topic, limit });
          expect(keys, `${topic}, ${limit}`).toEqual(full.map(({ arxiv_id, updated_at, upvotes, comments, first_seen_at, published_at }) => ({ arxiv_id, updated_at, upvotes, comments, first_seen_at, published_at })));
        }
      }
      const { rows } = await sql<{ statements: number }>`select count(*)::int as statements from pg_prepared_statements where statement like '%websearch_to_tsquery%'`.execute(one);
      expect(rows[0]!.statements).toBe(1);
    } finally {
      await one.destroy();
    }
  });

  it('gives "for you" the same matches and relevance as the topic feed', async () => {
    const feed = await findPapersForTopic(testDb.db, { topic: 'diffusion', limit: 10, lastDay: DAY, days: 1 });
    const personal = (await matchTopics(testDb.db, { kind: 'daily', digest_date: DAY }, ['diffusion'])).get('diffusion') ?? [];
    const byId = new Map(personal.map((m) => [m.arxivId, m]));
    expect([...byId.keys()].sort()).toEqual(feed.map((p) => p.arxiv_id).sort());
    for (const p of feed) {
      expect(byId.get(p.arxiv_id)!.relevance).toBeCloseTo(p.relevance, 6);
      expect(byId.get(p.arxiv_id)!.trendingScore).toBeCloseTo(p.trendingScore, 9);
    }
  });

  it('ranks on the small title-and-keywords vector, never on the abstract-sized one', async () => {
    const compiled = topicSearchQuery(testDb.db, { topic: 'diffusion', limit: 30 }).compile();
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain (verbose, costs off) ${sql.raw(compiled.sql.replace(/\$(\d+)/g, (_, i: string) => {
      const v = compiled.parameters[Number(i) - 1];
      return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
    }))}`.execute(testDb.db);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/ts_rank_cd\([^)]*rank_search/);
    expect(plan).not.toMatch(/ts_rank_cd\([^)]*papers_?\d*\.search\b/);
  });

  it('matches the window and the topic in one scan of the day-and-search GIN index', async () => {
    // A table this small is best read whole or through a btree; what matters is that the GIN
    // index can answer the days and the tsquery in one index condition (a featured_on range could
    // not be, and would be intersected with a whole-table tsquery bitmap). The other ways in are
    // closed inside a transaction that is rolled back.
    const compiled = topicSearchQuery(testDb.db, { topic: 'diffusion', limit: 30, lastDay: DAY }).compile();
    let plan = '';
    const rolledBack = new Error('roll back');
    await expect(
      testDb.db.transaction().execute(async (trx) => {
        await sql`drop index papers_trending_window_idx, papers_featured_rank_idx`.execute(trx);
        await sql`set local enable_seqscan = off`.execute(trx);
        await sql`set local enable_indexscan = off`.execute(trx);
        const { rows } = await sql<{ 'QUERY PLAN': string }>`explain (costs off) ${sql.raw(compiled.sql.replace(/\$(\d+)/g, (_, i: string) => {
          const v = compiled.parameters[Number(i) - 1];
          return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
        }))}`.execute(trx);
        plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
    expect(plan).toMatch(/Bitmap Index Scan on papers_day_search_idx\s+Index Cond: \(\(ARRAY\[featured_on\] && [^)]*\) AND \(search @@/);
    expect(plan).not.toMatch(/BitmapAnd/);
  });
});
