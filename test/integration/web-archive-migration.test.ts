import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const THIS = '2026-11-30T0500_web_archive';

describe(`migration ${THIS}`, () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  it('weights the search column and fills edition_papers for editions built before it', async () => {
    const migrator = createMigrator(testDb.db);
    const all = (await migrator.getMigrations()).map((m) => m.name);
    const previous = all[all.indexOf(THIS) - 1]!;
    expect((await migrator.migrateTo(previous)).error).toBeUndefined();
    const db = testDb.db;
    // A Monday digest (2025-12-22): top = papers featured Sat–Mon, then trending from the week before.
    await sql`insert into papers (arxiv_id, title, abstract, featured_on, upvotes, comments, ai_keywords) values
      ('2512.00001', 'Sunday paper', 'x', '2025-12-21', 50, 2, null),
      ('2512.00002', 'Monday paper', 'x', '2025-12-22', 40, 1, null),
      ('2512.00003', 'Older trending paper', 'x', '2025-12-18', 90, 9, null),
      ('2512.00004', 'Unrelated title', 'all about diffusion models', '2025-12-22', 1, 0, null),
      ('2512.00005', 'Unrelated title two', 'nothing', '2025-12-22', 1, 0, '{diffusion}'),
      ('2512.00006', 'Diffusion in the title', 'nothing', '2025-12-22', 1, 0, null)`.execute(db);
    // Snapshots: the one before the edition was built gives the figures as mailed.
    await sql`insert into paper_stats (arxiv_id, captured_at, upvotes, comments) values
      ('2512.00001', '2025-12-23T06:00:00Z', 30, 1),
      ('2512.00001', '2025-12-23T09:00:00Z', 45, 2)`.execute(db);
    await sql`insert into editions (kind, digest_date, status, paper_ids, subject, created_at)
      values ('daily', '2025-12-22', 'sent', '{2512.00001,2512.00002,2512.00003}', 'Monday', '2025-12-23T08:00:00Z'),
             ('daily', '2025-12-19', 'empty', '{}', '', '2025-12-20T08:00:00Z')`.execute(db);

    const result = await migrator.migrateTo(THIS);
    expect(result.error).toBeUndefined();
    expect(result.results?.map((r) => [r.migrationName, r.status])).toEqual([[THIS, 'Success']]);

    const rows = await db.selectFrom('edition_papers').selectAll().orderBy('position').execute();
    expect(rows.map(({ edition_id: _, ...r }) => r)).toEqual([
      { position: 1, section: 'top', arxiv_id: '2512.00001', upvotes: 30, comments: 1 },
      { position: 2, section: 'top', arxiv_id: '2512.00002', upvotes: 40, comments: 1 },
      { position: 3, section: 'trending', arxiv_id: '2512.00003', upvotes: 90, comments: 9 },
    ]);

    // Title (A) > keywords (B) > abstract (C).
    const ranked = await sql<{ arxiv_id: string }>`
      select arxiv_id from papers where search @@ websearch_to_tsquery('english', 'diffusion')
      order by ts_rank_cd(search, websearch_to_tsquery('english', 'diffusion')) desc`.execute(db);
    expect(ranked.rows.map((r) => r.arxiv_id)).toEqual(['2512.00006', '2512.00005', '2512.00004']);
    const plan = await sql<{ 'QUERY PLAN': string }>`
      explain select arxiv_id from papers where search @@ websearch_to_tsquery('english', 'diffusion')`.execute(db);
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/papers_search_idx|Seq Scan/);
  });

  it('can be rolled back and applied again', async () => {
    const migrator = createMigrator(testDb.db);
    const all = (await migrator.getMigrations()).map((m) => m.name);
    const down = await migrator.migrateTo(all[all.indexOf(THIS) - 1]!);
    expect(down.error).toBeUndefined();
    const tables = await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_name = 'edition_papers'`.execute(testDb.db);
    expect(tables.rows[0]!.n).toBe(0);
    await migrateToLatest(testDb.db);
    expect(await testDb.db.selectFrom('edition_papers').select('position').execute()).toHaveLength(3);
  });
});
