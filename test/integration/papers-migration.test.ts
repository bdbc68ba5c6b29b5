import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('migration 2026-11-27T0002_paper_stats', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  it('upgrades the previous schema with data in place', async () => {
    const migrator = createMigrator(testDb.db);
    const first = await migrator.migrateTo('2026-11-27T0001_initial');
    expect(first.error).toBeUndefined();
    await sql`insert into papers (arxiv_id, title, featured_on, upvotes) values ('2501.00001', 'Old row', '2025-12-26', 4)`.execute(testDb.db);

    // Up to this migration only, so later migrations (other features') cannot affect this test.
    const second = await migrator.migrateTo('2026-11-27T0002_paper_stats');
    expect(second.error).toBeUndefined();
    expect(second.results?.map((r) => [r.migrationName, r.status])).toEqual([['2026-11-27T0002_paper_stats', 'Success']]);

    const row = await testDb.db.selectFrom('papers').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ arxiv_id: '2501.00001', upvotes: 4, categories: [], primary_category: null, ai_keywords: null });
    await testDb.db
      .insertInto('paper_stats')
      .values({ arxiv_id: '2501.00001', captured_at: new Date('2025-12-26T12:00:00Z'), upvotes: 4, comments: 0 })
      .execute();
    // Snapshots belong to a paper: unknown ids are refused, and deleting the paper removes them.
    await expect(
      testDb.db.insertInto('paper_stats').values({ arxiv_id: 'missing', captured_at: new Date(), upvotes: 0, comments: 0 }).execute(),
    ).rejects.toThrow(/foreign key/);
    await testDb.db.deleteFrom('papers').execute();
    expect(await testDb.db.selectFrom('paper_stats').selectAll().execute()).toEqual([]);
  });

  it('can be rolled back and applied again', async () => {
    const migrator = createMigrator(testDb.db);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    expect(down.results?.map((r) => r.migrationName)).toEqual(['2026-11-27T0002_paper_stats']);
    const tables = await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_name = 'paper_stats'`.execute(testDb.db);
    expect(tables.rows[0]!.n).toBe(0);
    const columns = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_name = 'papers' and column_name = 'categories'`.execute(testDb.db);
    expect(columns.rows[0]!.n).toBe(0);
    expect((await migrator.migrateTo('2026-11-27T0002_paper_stats')).error).toBeUndefined();
    // And the whole chain, other features' migrations included, still applies on top.
    await migrateToLatest(testDb.db);
  });
});
