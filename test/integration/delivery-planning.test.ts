import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { planDeliveryRange } from '../../src/delivery/delivery.repository.ts';
import { planEdition } from '../../src/delivery/planner.ts';
import { beginPlanning } from '../../src/delivery/send-run.repository.ts';
import { buildDailyEdition } from '../../src/editions/edition.service.ts';
import { createLogger } from '../../src/logger.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { createServices } from '../../src/app/services.ts';
import { createRedis, Queues } from '../../src/queue/queues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';

describe('planning an edition', () => {
  let t: TestDatabase;
  let queues: Queues;
  const prefix = `pbplan-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({ NODE_ENV: 'test', QUEUE_PREFIX: prefix, SEND_BATCH_SIZE: '100', LOG_LEVEL: 'silent' });
  const deps = () => ({ ...createServices({ config, db: t.db, queues, log: createLogger('silent') }).delivery, delivery: { ...config.delivery, planRangeSize: 300 } });

  beforeAll(async () => {
    t = await createTestDatabase();
    await importPapersFile(t.db, sampleDataFile);
    queues = new Queues(createRedis({ url: testRedisUrl, role: 'producer' }), prefix);
    await sql`insert into subscribers (email, status) select 'p' || g || '@example.org', case when g % 10 = 0 then 'unsubscribed' else 'active' end from generate_series(1, 1000) g`.execute(t.db);
  });
  afterAll(async () => {
    await queues?.close();
    await queues?.connection.quit();
    await deleteQueuePrefix(testRedisUrl, prefix);
    await t?.drop();
  });

  it('writes one row per active subscriber, in ranges, enqueues deterministic batch jobs, and adds nothing when re-run', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-26', { publicUrl: config.publicUrl, maxPapers: 10 });
    const first = await planEdition(deps(), edition.id);
    expect(first.planned).toBe(900);
    const jobs = await queues.byName.send.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.length).toBe(first.batches);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
    for (const job of jobs) expect(job.id).toMatch(new RegExp(`^send-batch-${edition.id}-g0-w\\d+$`));
    const second = await planEdition(deps(), edition.id);
    expect(second.planned).toBe(900);
    expect(await queues.byName.send.getJobs(['waiting', 'delayed', 'prioritized'])).toHaveLength(jobs.length);
    const rows = await t.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('edition_id', '=', edition.id).executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(900);
  });

  it('leaves out whoever joined or confirmed after planning began', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-25', { publicUrl: config.publicUrl, maxPapers: 10 });
    const begun = (await beginPlanning(t.db, edition.id, 100))!;
    // A sign-up confirmed while the planner is busy: a higher id, and a later confirmation.
    await t.db.insertInto('subscribers').values({ email: 'late@example.org', status: 'active', confirmed_at: new Date(Date.now() + 1_000) }).execute();
    // And an older pending subscriber who confirms now.
    await t.db.updateTable('subscribers').set({ status: 'active', confirmed_at: new Date(Date.now() + 1_000) }).where('email', '=', 'p10@example.org').execute();
    await planDeliveryRange(t.db, edition.id, { afterSubscriberId: 0, throughSubscriberId: 10_000_000, cutoff: begun.plan_started_at! });
    const emails = await t.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select('email')
      .where('edition_id', '=', edition.id)
      .execute();
    expect(emails).toHaveLength(900);
    expect(emails.map((e) => e.email)).not.toContain('late@example.org');
    expect(emails.map((e) => e.email)).not.toContain('p10@example.org');
  });
});
