import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('migrations', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  it('builds the schema on an empty database and is a no-op the second time', async () => {
    const first = await migrateToLatest(testDb.db);
    expect(first.length).toBeGreaterThan(0);
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(testDb.db);
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['papers', 'subscribers', 'confirmation_tokens', 'editions', 'send_runs', 'deliveries']),
    );
    expect(await migrateToLatest(testDb.db)).toEqual([]);
  });

  it('rejects a second ledger row for the same run and subscriber (one per reader and edition)', async () => {
    const db = testDb.db;
    const sub = await db.insertInto('subscribers').values({ email: 'a@example.com', status: 'active' }).returning('id').executeTakeFirstOrThrow();
    const ed = await db
      .insertInto('editions')
      .values({ digest_date: '2025-12-26', status: 'ready', paper_ids: [], subject: 's', html_template: '', text_template: '' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const run = await db.insertInto('send_runs').values({ edition_id: ed.id, status: 'ready' }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('deliveries').values({ run_id: run.id, subscriber_id: sub.id }).execute();
    await expect(db.insertInto('deliveries').values({ run_id: run.id, subscriber_id: sub.id }).execute()).rejects.toThrow(
      /deliveries_subscriber_edition_key/,
    );
    // And one run per edition and audience.
    await expect(db.insertInto('send_runs').values({ edition_id: ed.id, status: 'ready' }).execute()).rejects.toThrow(/send_runs_edition_audience_key/);
    expect(typeof sub.id).toBe('number');
  });
});
