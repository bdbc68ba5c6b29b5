import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { planPersonalRange, preparePlan } from '../../src/delivery/personal-plan.ts';
import { claimQueuedDeliveries, recordDeliveryOutcomes } from '../../src/delivery/delivery.repository.ts';
import { planLockKey, planRun } from '../../src/delivery/planner.ts';
import { isAdvisoryLockHeld, withAdvisoryLock } from '../../src/db/advisory-lock.ts';
import { pauseSending, resumeSending, RunPauses } from '../../src/delivery/pause.ts';
import { reconcileDeliveries } from '../../src/delivery/reconciler.ts';
import { beginPlanning, ensureSendRun, findSendRunById, finishPlanning } from '../../src/delivery/send-run.repository.ts';
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
    const run = await ensureSendRun(t.db, edition.id);
    expect(await ensureSendRun(t.db, edition.id)).toEqual(run);
    const first = await planRun(deps(), run.id);
    expect(first.planned).toBe(900);
    const jobs = await queues.byName.send.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.length).toBe(first.batches);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
    for (const job of jobs) expect(job.id).toMatch(new RegExp(`^send-batch-${run.id}-g0-w\\d+$`));
    const second = await planRun(deps(), run.id);
    expect(second.planned).toBe(900);
    expect(await queues.byName.send.getJobs(['waiting', 'delayed', 'prioritized'])).toHaveLength(jobs.length);
    const rows = await t.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('run_id', '=', run.id).executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(900);
  });

  it('resumes an interrupted planning from its cursor, range by range, and re-planning planned ranges adds nothing', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-22', { publicUrl: config.publicUrl, maxPapers: 10 });
    const run = await ensureSendRun(t.db, edition.id);
    expect((await planRun(deps(), run.id)).planned).toBe(900);
    const count = async (where = sql`true`) =>
      Number((await sql<{ n: string }>`select count(*) as n from deliveries where run_id = ${run.id} and ${where}`.execute(t.db)).rows[0]!.n);
    const interrupt = (cursor: number) =>
      t.db.updateTable('send_runs').set({ status: 'planning', planned_at: null, planned_count: 0, plan_cursor: cursor }).where('id', '=', run.id).execute();

    // Interrupted after the range ending at 600 (ranges of 300): the resumed planner starts there.
    // Rows it never reaches again (ids up to 300, removed here) stay missing: proof it does not start over.
    await sql`delete from deliveries where run_id = ${run.id} and (subscriber_id > 600 or subscriber_id <= 300)`.execute(t.db);
    await interrupt(600);
    const resumed = await planRun(deps(), run.id);
    expect(await count(sql`subscriber_id <= 300`)).toBe(0);
    expect(await count(sql`subscriber_id > 600`)).toBe(360);
    expect(resumed.planned).toBe(630);

    // Re-planned from the start over rows that exist: every insert meets the unique key and adds nothing.
    await interrupt(0);
    const again = await planRun(deps(), run.id);
    expect(again.planned).toBe(900);
    expect(await count()).toBe(900);
    const duplicates = await sql<{ n: string }>`select count(*) as n from (select subscriber_id from deliveries where run_id = ${run.id} group by 1 having count(*) > 1) d`.execute(t.db);
    expect(Number(duplicates.rows[0]!.n)).toBe(0);
  });

  it('hands each completed batch window to the senders while planning goes on, and the senders claim from a run still planning', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-26', { publicUrl: config.publicUrl, maxPapers: 10 });
    // The first test sent this edition to everyone: start it afresh.
    await t.db.deleteFrom('send_runs').where('edition_id', '=', edition.id).execute();
    const run = await ensureSendRun(t.db, edition.id);
    await queues.byName.send.obliterate({ force: true });
    // The planner dies in its third range (ranges of 300 subscriber ids, batches of 100 ledger ids).
    await sql`create function fail_late_rows() returns trigger language plpgsql as $$
      begin if new.subscriber_id > 600 then raise exception 'planner killed'; end if; return new; end $$`.execute(t.db);
    await sql`create trigger fail_late_rows before insert on deliveries for each row execute function fail_late_rows()`.execute(t.db);
    try {
      await expect(planRun(deps(), run.id)).rejects.toThrow(/planner killed/);
    } finally {
      await sql`drop trigger fail_late_rows on deliveries`.execute(t.db);
      await sql`drop function fail_late_rows()`.execute(t.db);
    }
    expect((await findSendRunById(t.db, run.id))!.status).toBe('planning');
    const planned = await t.db.selectFrom('deliveries').select(['id']).where('run_id', '=', run.id).orderBy('id').execute();
    expect(planned.length).toBe(540);
    const lastId = planned.at(-1)!.id;
    // Every window below the one holding the last row written has its job already; that one not yet.
    const windowsWithRows = [...new Set(planned.map((r) => Math.floor(r.id / 100)))];
    const jobIdsNow = (await queues.byName.send.getJobs(['waiting'])).map((j) => j.id);
    expect(jobIdsNow.sort()).toEqual(windowsWithRows.filter((w) => w < Math.floor(lastId / 100)).map((w) => `send-batch-${run.id}-g0-w${w}`).sort());
    // A sender claims rows of the run while it is still planning.
    const claimed = await claimQueuedDeliveries(t.db, { runId: run.id, fromId: planned[0]!.id, toId: planned[0]!.id + 99, limit: 5, workerId: 'test' });
    expect(claimed.length).toBe(5);
    await recordDeliveryOutcomes(t.db, 'test', claimed.map((c) => ({ id: c.id, status: 'sent' as const, messageId: `<${c.id}@test>` })));
    // The planner resumes from its cursor; its last windows get their jobs, none twice.
    const resumed = await planRun(deps(), run.id);
    expect(resumed.planned).toBe(900);
    const jobIdsAfter = (await queues.byName.send.getJobs(['waiting'])).map((j) => j.id!);
    expect(new Set(jobIdsAfter).size).toBe(jobIdsAfter.length);
    const allWindows = (await t.db.selectFrom('deliveries').select('id').where('run_id', '=', run.id).where('status', '=', 'queued').execute()).map((r) => Math.floor(r.id / 100));
    expect(jobIdsAfter.sort()).toEqual([...new Set(allWindows)].map((w) => `send-batch-${run.id}-g0-w${w}`).sort());
  });

  it('leaves out whoever joined or confirmed after planning began', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-25', { publicUrl: config.publicUrl, maxPapers: 10 });
    const run = await ensureSendRun(t.db, edition.id);
    const begun = (await beginPlanning(t.db, run.id, 100))!;
    // A sign-up confirmed while the planner is busy: a higher id, and a later confirmation.
    await t.db.insertInto('subscribers').values({ email: 'late@example.org', status: 'active', confirmed_at: new Date(Date.now() + 1_000) }).execute();
    // And an older pending subscriber who confirms now.
    await t.db.updateTable('subscribers').set({ status: 'active', confirmed_at: new Date(Date.now() + 1_000) }).where('email', '=', 'p10@example.org').execute();
    const context = await preparePlan(t.db, begun, edition, { publicUrl: config.publicUrl, maxPapers: 10 }, begun.plan_started_at!);
    await planPersonalRange(t.db, context, { afterSubscriberId: 0, throughSubscriberId: 10_000_000, cutoff: begun.plan_started_at! });
    const emails = await t.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select('email')
      .where('run_id', '=', run.id)
      .execute();
    expect(emails).toHaveLength(900);
    expect(emails.map((e) => e.email)).not.toContain('late@example.org');
    expect(emails.map((e) => e.email)).not.toContain('p10@example.org');
  });

  it('plans nothing for a paused run, resumes it where it stopped, and re-enqueues lost jobs under a new generation', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-24', { publicUrl: config.publicUrl, maxPapers: 10 });
    const run = await ensureSendRun(t.db, edition.id);
    await beginPlanning(t.db, run.id, 100);
    let clock = 0;
    const pauses = new RunPauses(1_000, () => clock);
    await pauseSending(deps(), pauses, run.id, 'operator stop');
    expect(await pauses.isPaused(t.db, run.id)).toBe(true);
    // Any other process reads the pause from Postgres.
    expect(await new RunPauses().isPaused(t.db, run.id)).toBe(true);
    expect(await planRun(deps(), run.id)).toEqual({ planned: 0, batches: 0, planMs: 0 });
    expect(await t.db.selectFrom('deliveries').select('id').where('run_id', '=', run.id).execute()).toEqual([]);

    // Paused before planning finished: resuming asks for planning again, with a fresh job id.
    const resumed = (await resumeSending(deps(), run.id))!;
    expect(resumed).toMatchObject({ status: 'planning', pause_reason: null, policy_failures: 0 });
    // The process that paused sees the resume (made elsewhere) once its view is older than the TTL.
    expect(await pauses.isPaused(t.db, run.id)).toBe(true);
    clock += 1_000;
    expect(await pauses.isPaused(t.db, run.id)).toBe(false);
    const planJobs = (await queues.byName.send.getJobs(['waiting'])).filter((j) => j.name === 'plan-run');
    expect(planJobs.map((j) => j.id)).toContain(`plan-run-${run.id}-g1`);
    expect(await resumeSending(deps(), run.id)).toBeUndefined();

    // The queue lost everything (a flushed Redis): the repair job plans the run again from Postgres.
    await queues.byName.send.obliterate({ force: true });
    const repaired = await reconcileDeliveries(deps());
    expect(repaired.reenqueued).toContain(run.id);
    const again = (await queues.byName.send.getJobs(['waiting'])).filter((j) => j.name === 'plan-run' && j.data.runId === run.id).map((j) => j.id);
    expect(again).toEqual([`plan-run-${run.id}-g2`]);
    const planned = await planRun(deps(), run.id);
    // Everyone active and confirmed before this run's cutoff (the earlier test adds two late ones).
    const cutoff = (await findSendRunById(t.db, run.id))!.plan_started_at!;
    const expected = await sql<{ n: number }>`select count(*)::int as n from subscribers where status = 'active' and coalesce(confirmed_at, created_at) <= ${cutoff}`.execute(t.db);
    expect(planned.planned).toBe(expected.rows[0]!.n);
    expect(planned.planned).toBeGreaterThanOrEqual(900);
    expect((await findSendRunById(t.db, run.id))!.status).toBe('sending');
    const batchIds = (await queues.byName.send.getJobs(['waiting'])).map((j) => j.id).filter((id) => id!.startsWith(`send-batch-${run.id}-`));
    expect(batchIds.length).toBe(planned.batches);
    for (const id of batchIds) expect(id).toMatch(new RegExp(`^send-batch-${run.id}-g2-w\\d+$`));
  });

  it('repairs a run whose jobs were lost while another run still has a job, and leaves alone a run whose planner is at work', async () => {
    const edition = await buildDailyEdition(t.db, '2025-12-26', { publicUrl: config.publicUrl, maxPapers: 10 });
    // Three runs of one edition, told apart by their audience (as the hourly ticks are).
    const [waiting, lost, planning, orphan] = await Promise.all(
      ['due:2025-12-26T06', 'due:2025-12-26T07', 'due:2025-12-26T08', 'due:2025-12-26T09'].map((a) => ensureSendRun(t.db, edition.id, a)),
    );
    await queues.byName.send.obliterate({ force: true });
    for (const run of [waiting!, lost!, planning!, orphan!]) await beginPlanning(t.db, run.id, 100);
    await finishPlanning(t.db, waiting!.id, 0);
    // One run's job waits out a backoff: it must not hold back the repair of the others.
    const retry = { attempts: 1, backoffDelayMs: 1_000, jitter: 0 };
    await deps().jobs.enqueueSendRetry({ runId: waiting!.id, fromDeliveryId: 1, toDeliveryId: 99, generation: 0, round: 1 }, 60_000, retry);
    // A run still planning that has send jobs (planning sends as it goes) but no planner any more.
    await deps().jobs.enqueueSendRetry({ runId: orphan!.id, fromDeliveryId: 1, toDeliveryId: 99, generation: 0, round: 1 }, 60_000, retry);
    // A planner at work without a job of its own (a process planning the run directly).
    const held = await withAdvisoryLock(t.db, planLockKey(planning!.id), async () => {
      expect(await isAdvisoryLockHeld(t.db, planLockKey(planning!.id))).toBe(true);
      return reconcileDeliveries(deps());
    });
    expect(held.locked).toBe(true);
    const repaired = held.locked ? held.value.reenqueued : [];
    expect(repaired).toContain(lost!.id);
    expect(repaired).toContain(orphan!.id);
    expect(repaired).not.toContain(waiting!.id);
    expect(repaired).not.toContain(planning!.id);
    const planJobs = (await queues.byName.send.getJobs(['waiting'])).filter((j) => j.name === 'plan-run').map((j) => j.data.runId);
    expect(planJobs).toContain(lost!.id);
    expect(planJobs).toContain(orphan!.id);
    expect(planJobs).not.toContain(planning!.id);
    // Once the planner has stopped, its run is repaired too.
    expect(await isAdvisoryLockHeld(t.db, planLockKey(planning!.id))).toBe(false);
    expect((await reconcileDeliveries(deps())).reenqueued).toContain(planning!.id);
  });

  it('finishes a run with nobody to send to at once', async () => {
    await t.db.updateTable('subscribers').set({ status: 'unsubscribed' }).execute();
    const edition = await buildDailyEdition(t.db, '2025-12-23', { publicUrl: config.publicUrl, maxPapers: 10 });
    const run = await ensureSendRun(t.db, edition.id);
    expect(await planRun(deps(), run.id)).toMatchObject({ planned: 0, batches: 0 });
    expect(await findSendRunById(t.db, run.id)).toMatchObject({ status: 'sent', planned_count: 0 });
  });
});
