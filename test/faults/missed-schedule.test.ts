import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { catchUpDailyDigest, DAILY_DIGEST_SCHEDULER_ID } from '../../src/app/schedules.ts';
import { addDays } from '../../src/dates.ts';
import { digestDayForRun } from '../../src/editions/digest-day.ts';
import { createLogger } from '../../src/logger.ts';
import { reportRecovery, startFaultDrill, type DrillRun, type FaultDrill } from '../helpers/fault-drill.ts';
import { privateRedis, type PrivateRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 300;

/** A daily cron pattern (seconds first, UTC) that fires at `at`'s time of day. */
const dailyAt = (at: Date) => `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;

/**
 * Issue #8 item 20: the daily digest must not be skipped when Redis lost its scheduler before the
 * scheduled time, nor when no worker ran at that time. Real worker processes on a private
 * redis-server (flushing it touches nobody else's data).
 */
describe('fault drills: a missed daily schedule', () => {
  let drill: FaultDrill | undefined;
  let redis: PrivateRedis | undefined;
  afterEach(async () => {
    try {
      await drill?.stop();
    } finally {
      await redis?.stop();
      drill = undefined;
      redis = undefined;
    }
  });

  /** Moves the sample's latest featured day to `day`, so the digest of `day` has papers. */
  const papersFor = async (day: string, nth = 0) => {
    const days = await sql<{ d: string }>`select distinct featured_on::text as d from papers where featured_on is not null order by d desc`.execute(drill!.testDb.db);
    await sql`update papers set featured_on = ${day}::date where featured_on = ${days.rows[nth]!.d}::date`.execute(drill!.testDb.db);
  };
  const runOf = async (day: string): Promise<DrillRun & { runs: number; editions: number }> => {
    const rows = await drill!.testDb.db
      .selectFrom('editions')
      .innerJoin('send_runs', 'send_runs.edition_id', 'editions.id')
      .select(['editions.id as editionId', 'send_runs.id as id'])
      .where('editions.digest_date', '=', day)
      .execute();
    const editions = await drill!.testDb.db.selectFrom('editions').select('id').where('digest_date', '=', day).execute();
    return { editionId: rows[0]?.editionId ?? 0, id: rows[0]?.id ?? 0, runs: rows.length, editions: editions.length };
  };

  it('re-creates the scheduler after Redis is flushed before the scheduled time, and sends that digest once', async () => {
    redis = await privateRedis();
    // Far enough ahead for two workers to start on a busy machine (~6 s at load 11, when the flush
    // below came ~12 s after this line), not so far that the drill mostly waits for it.
    const scheduled = new Date(Math.ceil((Date.now() + 25_000) / 1000) * 1000);
    const day = digestDayForRun('UTC', scheduled);
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      env: { REDIS_URL: redis.url, DIGEST_TZ: 'UTC', DIGEST_CRON: dailyAt(scheduled), DIGEST_CATCH_UP_HOURS: '1', SCHEDULE_CHECK_SECONDS: '1' },
    });
    await papersFor(day);
    // Both workers must have started (each asserts the schedules as it starts, src/app/schedules.ts)
    // before the flush: a worker still starting would re-create the scheduler by starting, not by
    // noticing it is gone, and the check right after the flush would see it.
    const startedFlags = [drill.startWorker({ LOG_LEVEL: 'info' }), drill.startWorker({ LOG_LEVEL: 'info' })].map((worker) => {
      let started = false;
      worker.child.stdout!.on('data', (chunk: Buffer) => (started ||= chunk.toString('utf8').includes('worker started')));
      return () => started;
    });
    await waitFor(() => startedFlags.every((started) => started()), { what: 'both workers started', timeoutMs: 30_000 });
    const digestQueue = drill.queues.byName.digest;
    await waitFor(async () => (await digestQueue.getJobScheduler(DAILY_DIGEST_SCHEDULER_ID))?.next === scheduled.getTime(), {
      what: 'the daily scheduler, due at the scheduled time',
      timeoutMs: 30_000,
    });

    const flusher = await import('ioredis').then(({ Redis }) => new Redis(redis!.url));
    try {
      await flusher.flushall();
    } finally {
      await flusher.quit();
    }
    expect(await digestQueue.getJobScheduler(DAILY_DIGEST_SCHEDULER_ID)).toBeUndefined();
    await waitFor(async () => (await digestQueue.getJobScheduler(DAILY_DIGEST_SCHEDULER_ID))?.next === scheduled.getTime(), {
      what: 'the daily scheduler re-created by a worker',
      timeoutMs: 10_000,
    });
    // The drill only means something if the flush came before the scheduled time.
    console.log(`[missed schedule] scheduler re-created ${((scheduled.getTime() - Date.now()) / 1000).toFixed(1)} s before the scheduled time`);
    expect(Date.now()).toBeLessThan(scheduled.getTime());

    const run = await waitFor(async () => {
      const found = await runOf(day);
      return found.runs > 0 ? found : undefined;
    }, { what: `the edition of ${day}`, timeoutMs: 120_000 });
    await drill.waitUntilFinished(run);
    const recoveredMs = Date.now() - scheduled.getTime();
    expect(await runOf(day)).toMatchObject({ runs: 1, editions: 1 });
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: SUBSCRIBERS });
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS);
    reportRecovery('Redis flushed before the scheduled digest (scheduled time → edition sent)', recoveredMs, { counts });
  }, 240_000);

  it('catches up the digest whose time passed while no worker ran, once with two workers starting together, and no older one', async () => {
    redis = await privateRedis();
    const scheduled = new Date(Math.floor((Date.now() - 5 * 60_000) / 1000) * 1000);
    const day = digestDayForRun('UTC', scheduled);
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      env: { REDIS_URL: redis.url, DIGEST_TZ: 'UTC', DIGEST_CRON: dailyAt(scheduled), DIGEST_CATCH_UP_HOURS: '1', SCHEDULE_CHECK_SECONDS: '1' },
    });
    await papersFor(day);
    // The day before has papers and no edition too: too old to send now.
    await papersFor(addDays(day, -1), 1);

    const started = Date.now();
    drill.startWorker();
    drill.startWorker();
    const run = await waitFor(async () => {
      const found = await runOf(day);
      return found.runs > 0 ? found : undefined;
    }, { what: `the caught-up edition of ${day}`, timeoutMs: 120_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\n${drill!.workers.map((w, i) => `worker ${i}:\n${w.output()}`).join('\n')}`);
    });
    await drill.waitUntilFinished(run);
    const recoveredMs = Date.now() - started;
    expect(await runOf(day)).toMatchObject({ runs: 1, editions: 1 });
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: SUBSCRIBERS });
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS);
    expect(await drill.testDb.db.selectFrom('editions').select('id').where('digest_date', '=', addDays(day, -1)).execute()).toEqual([]);

    // The same check later finds the digest made; past the window it leaves the day alone.
    const deps = { db: drill.testDb.db, log: createLogger('silent'), requestDailyDigest: async () => expect.fail('nothing to request') };
    const config = { digestCron: dailyAt(scheduled), digestTimeZone: 'UTC', digestCatchUpMs: 3_600_000 };
    expect(await catchUpDailyDigest(deps, config, new Date(scheduled.getTime() + 30 * 60_000))).toMatchObject({ action: 'none', day, reason: 'run sent' });
    expect(await catchUpDailyDigest(deps, config, new Date(scheduled.getTime() + 2 * 3_600_000))).toMatchObject({ action: 'none', day, reason: 'too late to catch up' });
    expect(await catchUpDailyDigest(deps, { ...config, digestCatchUpMs: 0 }, new Date(scheduled.getTime() + 60_000))).toMatchObject({ action: 'none' });
    reportRecovery('worker down over the scheduled time (two workers start → caught-up edition sent)', recoveredMs, { counts });
  }, 240_000);
});
