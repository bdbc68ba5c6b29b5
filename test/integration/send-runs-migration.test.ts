import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { ensureSendRun } from '../../src/delivery/send-run.repository.ts';
import { collectPersonalData } from '../../src/subscribers/personal-data.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const BEFORE = '2026-11-30T0500_web_archive';
const THIS = '2026-11-30T0600_send_runs';

const RUN_COLUMNS = [
  'status',
  'batch_size',
  'plan_started_at',
  'plan_max_subscriber_id',
  'plan_cursor',
  'planned_count',
  'planned_at',
  'send_started_at',
  'finished_at',
  'enqueue_generation',
  'policy_failures',
  'pause_reason',
  'paused_at',
  'created_at',
] as const;

describe(`migration ${THIS}`, () => {
  let testDb: TestDatabase;
  type Row = Record<string, unknown>;
  let oldEditions: Row[];
  let oldDeliveries: Row[];
  let oldSentPapers: Row[];

  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  const rows = async (query: ReturnType<typeof sql>) => (await query.execute(testDb.db)).rows as Row[];

  it('moves every edition’s run state into send_runs and the ledger onto runs, without loss', async () => {
    const migrator = createMigrator(testDb.db);
    expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
    const db = testDb.db;
    await sql`insert into papers (arxiv_id, title, featured_on, upvotes) values
      ('2512.00001', 'One', '2025-12-26', 5), ('2512.00002', 'Two', '2025-12-26', 3), ('2512.00003', 'Three', '2025-12-25', 1)`.execute(db);
    await sql`insert into subscribers (id, email, status) overriding system value values
      (1, 'ada@example.org', 'active'), (2, 'bob@example.org', 'bounced'), (3, 'cy@example.org', 'active')`.execute(db);
    await sql`select setval(pg_get_serial_sequence('subscribers', 'id'), 3)`.execute(db);
    // Every state an edition could be in: empty, ready (never planned), sent, paused mid-send, sending.
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template) overriding system value values
      (10, '2025-12-20', 'empty', '{}', '', '', '')`.execute(db);
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template) overriding system value values
      (11, '2025-12-24', 'ready', '{2512.00003}', 'Ready', '<p>r</p>', 'r')`.execute(db);
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template, planned_count, planned_at, finished_at,
        plan_started_at, plan_max_subscriber_id, plan_cursor, send_started_at, batch_size, enqueue_generation, policy_failures, sent_papers_recorded_at)
      overriding system value values
      (12, '2025-12-26', 'sent', '{2512.00001,2512.00002}', 'Sent', '<p>s</p>', 's', 3, '2025-12-27T08:00:01Z', '2025-12-27T08:05:00Z',
        '2025-12-27T08:00:00Z', 3, 3, '2025-12-27T08:00:02Z', 500, 1, 0, '2025-12-27T08:06:00Z')`.execute(db);
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template, planned_count, planned_at,
        plan_started_at, plan_max_subscriber_id, plan_cursor, send_started_at, batch_size, enqueue_generation, policy_failures, pause_reason, paused_at)
      overriding system value values
      (13, '2025-12-25', 'paused', '{2512.00003}', 'Paused', '<p>p</p>', 'p', 2, '2025-12-26T08:00:01Z',
        '2025-12-26T08:00:00Z', 3, 3, '2025-12-26T08:00:02Z', 250, 2, 20, 'paused after 20 policy rejections (5.7.x …)', '2025-12-26T08:01:00Z')`.execute(db);
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template, plan_started_at, plan_max_subscriber_id, plan_cursor, batch_size)
      overriding system value values
      (14, '2025-12-23', 'planning', '{2512.00003}', 'Planning', '<p>x</p>', 'x', '2025-12-24T08:00:00Z', 3, 1, 500)`.execute(db);
    await sql`insert into deliveries (id, edition_id, subscriber_id, status, attempts, message_id, smtp_response, reason, sent_at, claimed_by, claimed_at, enhanced_code)
      overriding system value values
      (100, 12, 1, 'sent', 1, '<digest.e12.s1@x>', '250 ok', null, '2025-12-27T08:01:00Z', 'w1', '2025-12-27T08:00:59Z', null),
      (101, 12, 2, 'bounced', 1, '<digest.e12.s2@x>', '550 5.1.1 no', 'hard bounce 5.1.1: address suppressed', null, 'w1', '2025-12-27T08:00:59Z', '5.1.1'),
      (102, 12, 3, 'sent', 2, '<digest.e12.s3@x>', '250 ok', null, '2025-12-27T08:02:00Z', 'w2', '2025-12-27T08:01:59Z', null),
      (103, 13, 1, 'failed', 1, '<digest.e13.s1@x>', '550 5.7.26 no', 'policy rejection 5.7.26: recipient kept', null, 'w1', '2025-12-26T08:00:30Z', '5.7.26'),
      (104, 13, 3, 'queued', 0, null, null, null, null, null, null, null),
      (105, 14, 1, 'queued', 0, null, null, null, null, null, null, null)`.execute(db);
    await sql`insert into sent_papers (subscriber_id, arxiv_id, edition_id, sent_at) values
      (1, '2512.00001', 12, '2025-12-27T08:05:00Z'), (1, '2512.00002', 12, '2025-12-27T08:05:00Z'),
      (3, '2512.00001', 12, '2025-12-27T08:05:00Z'), (3, '2512.00002', 12, '2025-12-27T08:05:00Z')`.execute(db);
    await sql`insert into soft_bounces (subscriber_id, consecutive, first_at, last_at, last_edition_id, last_response) values
      (3, 1, '2025-12-26T08:00:00Z', '2025-12-26T08:00:00Z', 13, '452 4.2.2 full')`.execute(db);

    oldEditions = await rows(sql`select * from editions order by id`);
    oldDeliveries = await rows(sql`select * from deliveries order by id`);
    oldSentPapers = await rows(sql`select subscriber_id, arxiv_id from sent_papers order by subscriber_id, arxiv_id`);

    const result = await migrator.migrateTo(THIS);
    expect(result.error).toBeUndefined();
    expect(result.results?.map((r) => [r.migrationName, r.status])).toEqual([[THIS, 'Success']]);

    // One run per edition that was ever sendable, numbered like its edition, with its state intact.
    const runs = await rows(sql`select * from send_runs order by id`);
    expect(runs.map((r) => [r.id, r.edition_id, r.audience, r.status])).toEqual([
      [11, 11, 'subscribers', 'ready'],
      [12, 12, 'subscribers', 'sent'],
      [13, 13, 'subscribers', 'paused'],
      [14, 14, 'subscribers', 'planning'],
    ]);
    for (const run of runs) {
      const edition = oldEditions.find((e) => e.id === run.id)!;
      for (const column of RUN_COLUMNS) expect(run[column], `run ${run.id} ${column}`).toEqual(edition[column]);
    }

    // Editions keep their content and nothing about sending.
    const editions = await rows(sql`select * from editions order by id`);
    expect(editions.map((e) => [e.id, e.status])).toEqual([[10, 'empty'], [11, 'ready'], [12, 'ready'], [13, 'ready'], [14, 'ready']]);
    for (const edition of editions) {
      const old = oldEditions.find((e) => e.id === edition.id)!;
      expect(Object.keys(edition).sort()).toEqual(['created_at', 'digest_date', 'html_template', 'id', 'kind', 'paper_ids', 'status', 'subject', 'text_template']);
      for (const column of ['kind', 'digest_date', 'paper_ids', 'subject', 'html_template', 'text_template', 'created_at']) expect(edition[column]).toEqual(old[column]);
    }

    // The ledger is unchanged but for the column's name: it now points at runs.
    const deliveries = await rows(sql`select * from deliveries order by id`);
    expect(deliveries.map(({ run_id, ...rest }) => ({ ...rest, edition_id: run_id }))).toEqual(oldDeliveries);

    // The constraints followed: one row per (run, subscriber), runs must exist, deleting a run
    // deletes its ledger, and a new run is numbered after the migrated ones.
    await expect(sql`insert into deliveries (run_id, subscriber_id) values (12, 1)`.execute(db)).rejects.toThrow(/deliveries_run_subscriber_key/);
    await expect(sql`insert into deliveries (run_id, subscriber_id) values (10, 1)`.execute(db)).rejects.toThrow(/deliveries_run_id_fkey/);
    await expect(sql`update editions set status = 'sent' where id = 12`.execute(db)).rejects.toThrow(/editions_status_check/);
    expect(await rows(sql`select to_regclass('sent_papers') as t`)).toEqual([{ t: null }]);
    await sql`insert into editions (id, digest_date, status, paper_ids, subject, html_template, text_template) overriding system value values
      (15, '2025-12-22', 'ready', '{}', 'New', '', '')`.execute(db);
    const fresh = await ensureSendRun(db, 15);
    expect(fresh.id).toBeGreaterThan(14);

    await sql`delete from send_runs where id = ${fresh.id}`.execute(db);
    await sql`delete from editions where id = 15`.execute(db);
  });

  it('can be rolled back with the data and applied again', async () => {
    const migrator = createMigrator(testDb.db);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    expect(down.results?.map((r) => r.migrationName)).toEqual([THIS]);
    const editions = await rows(sql`select * from editions order by id`);
    expect(editions.map((e) => e.status)).toEqual(oldEditions.map((e) => e.status));
    for (const column of RUN_COLUMNS.filter((c) => c !== 'created_at')) {
      expect(editions.map((e) => e[column]), column).toEqual(oldEditions.map((e) => e[column]));
    }
    expect(await rows(sql`select * from deliveries order by id`)).toEqual(oldDeliveries);
    expect(await rows(sql`select subscriber_id, arxiv_id from sent_papers order by subscriber_id, arxiv_id`)).toEqual(oldSentPapers);
    expect((await migrator.migrateTo(THIS)).error).toBeUndefined();
    expect(await rows(sql`select id, status from send_runs order by id`)).toEqual([
      { id: 11, status: 'ready' },
      { id: 12, status: 'sent' },
      { id: 13, status: 'paused' },
      { id: 14, status: 'planning' },
    ]);
    await migrateToLatest(testDb.db);
    const db = testDb.db;
    // What each person received is now derived from the ledger, and matches what was stored
    // (read through the export of the latest schema, which later migrations reshape).
    for (const id of [1, 2, 3]) {
      const subscriber = await db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const exported = await collectPersonalData(db, subscriber);
      expect(exported.papersReceived.map((p) => p.arxivId).sort()).toEqual(oldSentPapers.filter((p) => p.subscriber_id === id).map((p) => p.arxiv_id));
      expect(exported.deliveries.map((d) => d.messageId)).toEqual(oldDeliveries.filter((d) => d.subscriber_id === id).map((d) => d.message_id));
    }
  });
});
