import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const THIS = '2026-11-30T1120_edition_papers_momentum';

describe(`migration ${THIS}`, () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  it('gives cards of editions built before it the momentum measured as of their edition', async () => {
    const migrator = createMigrator(testDb.db);
    const all = (await migrator.getMigrations()).map((m) => m.name);
    expect((await migrator.migrateTo(all[all.indexOf(THIS) - 1]!)).error).toBeUndefined();
    const db = testDb.db;
    await sql`insert into papers (arxiv_id, title, abstract, featured_on, upvotes, comments) values
      ('2512.00001', 'Rising', 'x', '2025-12-26', 90, 0),
      ('2512.00002', 'Flat', 'x', '2025-12-26', 5, 0),
      ('2512.00003', 'Rising in the week', 'x', '2025-12-24', 70, 0)`.execute(db);
    // Daily 2025-12-26 ends 2025-12-27T00:00Z: 12 a day and a half before, 50 an hour before (+38); a
    // later snapshot does not count. The weekly edition of 2025-12-22 ends 2025-12-29T00:00Z.
    await sql`insert into paper_stats (arxiv_id, captured_at, upvotes, comments) values
      ('2512.00001', '2025-12-25T12:00:00Z', 12, 0),
      ('2512.00001', '2025-12-26T23:00:00Z', 50, 0),
      ('2512.00001', '2025-12-27T10:00:00Z', 90, 0),
      ('2512.00003', '2025-12-27T20:00:00Z', 20, 0),
      ('2512.00003', '2025-12-28T20:00:00Z', 70, 0)`.execute(db);
    const { rows } = await sql<{ id: number; kind: string }>`insert into editions (kind, digest_date, status, paper_ids, subject, html_template, text_template) values
      ('daily', '2025-12-26', 'ready', '{2512.00001,2512.00002}', 'Friday', '', ''),
      ('weekly', '2025-12-22', 'ready', '{2512.00003}', 'Week', '', '') returning id, kind`.execute(db);
    const daily = rows.find((r) => r.kind === 'daily')!.id;
    const weekly = rows.find((r) => r.kind === 'weekly')!.id;
    await sql`insert into edition_papers (edition_id, position, section, arxiv_id, upvotes, comments) values
      (${daily}, 1, 'top', '2512.00001', 50, 0), (${daily}, 2, 'top', '2512.00002', 5, 0),
      (${weekly}, 1, 'weekly', '2512.00003', 70, 0)`.execute(db);

    expect((await migrator.migrateTo(THIS)).error).toBeUndefined();
    const after = await sql<{ arxiv_id: string; upvote_growth_24h: number }>`
      select arxiv_id, upvote_growth_24h from edition_papers order by arxiv_id`.execute(db);
    expect(after.rows).toEqual([
      { arxiv_id: '2512.00001', upvote_growth_24h: 38 },
      { arxiv_id: '2512.00002', upvote_growth_24h: 0 },
      { arxiv_id: '2512.00003', upvote_growth_24h: 50 },
    ]);
    // And back down.
    const previous = all[all.indexOf(THIS) - 1]!;
    expect((await migrator.migrateTo(previous)).error).toBeUndefined();
  });
});
