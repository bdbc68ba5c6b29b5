import type { JobsOptions } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { Config } from '../config.ts';
import type { Executor } from '../db/database.ts';
import { findSendRunByEdition } from '../delivery/send-run.repository.ts';
import { digestDayForRun } from '../editions/digest-day.ts';
import { findEditionByDate } from '../editions/edition.repository.ts';
import type { Logger } from '../logger.ts';
import { findTopPapersForDigestDay } from '../papers/trending.ts';
import { jobQueue, type JobData, type JobName } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';

/**
 * Every recurring job, in one registry. Schedules live in Redis (BullMQ job schedulers), which may
 * lose them (a flush, a restart without persistence), so a worker re-asserts all of them at start
 * and every SCHEDULE_CHECK_SECONDS. Upserting an unchanged scheduler keeps its next run (BullMQ's
 * addJobScheduler script reuses the pending iteration), so re-asserting is idempotent.
 *
 * Adding a schedule is one entry here; its job needs a schema (queue/jobs.ts) and a handler.
 */
export interface ScheduleDefinition<N extends JobName = JobName> {
  /** The stable scheduler id: the same id in every process and deploy. */
  id: string;
  job: N;
  data?: JobData<N>;
  /** When it runs, from the config; undefined removes the scheduler (e.g. INGEST_SCHEDULE=false). */
  repeat: (config: Config) => { pattern: string; tz?: string } | { every: number } | undefined;
  /**
   * Repair jobs run wherever workers run; the others (the timetable) only in processes that keep
   * the schedule (`paperboy send` runs workers without it).
   */
  repair?: boolean;
  opts?: JobsOptions;
}

export const DAILY_DIGEST_SCHEDULER_ID = 'daily-digest';
export const DELIVER_DUE_SCHEDULER_ID = 'deliver-due';
export const PAPER_POLL_SCHEDULER_ID = 'poll-papers';
export const RECONCILE_SCHEDULER_ID = 'reconcile-deliveries';

export const schedules: readonly ScheduleDefinition[] = [
  // Every reader at their own local hour (issue #10): one tick at the top of every UTC hour; each
  // tick's job id names the scheduler and the instant, and a tick is idempotent per hour.
  {
    id: DELIVER_DUE_SCHEDULER_ID,
    job: 'deliver-due',
    repeat: () => ({ pattern: '0 0 * * * *', tz: 'UTC' }),
    opts: { removeOnComplete: { count: 48 }, removeOnFail: { count: 100 } },
  },
  // Only when the operator asks for a fixed daily send (DIGEST_HOUR or DIGEST_CRON set).
  { id: DAILY_DIGEST_SCHEDULER_ID, job: 'daily-digest', repeat: (c) => (c.fixedDigestSchedule ? { pattern: c.digestCron, tz: c.digestTimeZone } : undefined) },
  { id: PAPER_POLL_SCHEDULER_ID, job: 'poll-papers', repeat: (c) => (c.ingestSchedule ? { every: Math.round(c.ingestIntervalHours * 3_600_000) } : undefined) },
  {
    id: RECONCILE_SCHEDULER_ID,
    job: 'reconcile-deliveries',
    repeat: (c) => ({ every: c.delivery.reconcileIntervalMs }),
    repair: true,
    opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
  },
];

/** Creates or updates every schedule (only the repair ones when `timetable` is false); removes the disabled. */
export async function assertSchedules(queues: Queues, config: Config, options: { timetable: boolean }, list = schedules): Promise<void> {
  for (const schedule of list) {
    if (!schedule.repair && !options.timetable) continue;
    const queue = queues.byName[jobQueue[schedule.job]];
    const repeat = schedule.repeat(config);
    if (!repeat) await queue.removeJobScheduler(schedule.id);
    else await queue.upsertJobScheduler(schedule.id, repeat, { name: schedule.job, data: schedule.data ?? {}, ...(schedule.opts ? { opts: schedule.opts } : {}) });
  }
}

/**
 * The instant a job was due: its creation time plus its delay. A scheduler's job is created when
 * the previous iteration starts (for a daily job, the day before), so its timestamp alone would
 * name the wrong day; the delay carries it to its slot.
 */
export function dueAt(job: { timestamp: number; delay?: number }): Date {
  return new Date(job.timestamp + (job.delay ?? 0));
}

export type CatchUpResult =
  | { action: 'requested'; day: string; dueAt: Date }
  | { action: 'none'; day?: string; reason: string };

/**
 * The daily digest that should exist and does not, from Postgres facts: the most recent scheduled
 * time (digestCron in digestTimeZone) at or before `now`, if it is at most digestCatchUpMs ago,
 * names a digest day; if that day has papers and no edition, or an edition whose run never got
 * going, it is requested now. Only that one day: older misses are not sent (news goes stale).
 * requestDailyDigest is idempotent per day (unique edition and run, deterministic plan job id,
 * one ledger row per subscriber), so two workers catching up at once, or the scheduler's own job
 * arriving as well, still send each person one digest.
 */
export async function catchUpDailyDigest(
  deps: { db: Executor; log: Logger; requestDailyDigest(day: string): Promise<unknown> },
  config: Pick<Config, 'digestCron' | 'digestTimeZone' | 'digestCatchUpMs'> & { fixedDigestSchedule?: boolean },
  now: Date,
): Promise<CatchUpResult> {
  if (config.digestCatchUpMs <= 0) return { action: 'none', reason: 'catch-up is off' };
  if (config.fixedDigestSchedule === false) return { action: 'none', reason: 'no fixed daily send' };
  const dueAt = CronExpressionParser.parse(config.digestCron, { currentDate: now, tz: config.digestTimeZone }).prev().toDate();
  const day = digestDayForRun(config.digestTimeZone, dueAt);
  if (now.getTime() - dueAt.getTime() > config.digestCatchUpMs) return { action: 'none', day, reason: 'too late to catch up' };
  const edition = await findEditionByDate(deps.db, 'daily', day);
  if (edition) {
    if (edition.status === 'empty') return { action: 'none', day, reason: 'edition empty' };
    const run = await findSendRunByEdition(deps.db, edition.id);
    // Planning, sending, paused or sent: in hand (the repair job, or an operator, takes it on).
    if (run && run.status !== 'ready') return { action: 'none', day, reason: `run ${run.status}` };
  } else if ((await findTopPapersForDigestDay(deps.db, day, 1)).length === 0) {
    // Nothing to send (yet): ingestion may still bring the day's papers within the window.
    return { action: 'none', day, reason: 'no papers for the day' };
  }
  deps.log.warn({ day, dueAt }, 'the daily digest was not made at its scheduled time: catching up');
  await deps.requestDailyDigest(day);
  return { action: 'requested', day, dueAt };
}

/**
 * The worker's schedule keeper: re-asserts the schedules and catches up a missed digest at start
 * and then every scheduleCheckMs, on a plain timer (nothing it relies on lives in Redis). Failing
 * to create the schedules at start fails the start; later failures are logged and retried.
 */
/**
 * The hourly ticks of the last digestCatchUpMs, run again: a tick lost with Redis, or missed while
 * no worker ran, still serves its readers (late). Each tick is idempotent per hour (one run per
 * edition and hour, one edition per person), so repeating those already done sends nothing.
 */
export async function catchUpHourlyTicks(deps: { deliverDue(at: Date): Promise<unknown> }, config: Pick<Config, 'digestCatchUpMs'>, now: Date): Promise<number> {
  const hours = Math.floor(config.digestCatchUpMs / 3_600_000);
  const current = Math.floor(now.getTime() / 3_600_000) * 3_600_000;
  for (let i = hours; i >= 0; i--) await deps.deliverDue(new Date(current - i * 3_600_000));
  return config.digestCatchUpMs > 0 ? hours + 1 : 0;
}

export async function startScheduleKeeper(
  deps: { queues: Queues; config: Config; log: Logger; db: Executor; requestDailyDigest(day: string): Promise<unknown>; deliverDue(at: Date): Promise<unknown> },
  options: { timetable: boolean },
): Promise<{ stop(): Promise<void> }> {
  const round = async () => {
    await assertSchedules(deps.queues, deps.config, options);
    if (options.timetable) {
      await catchUpDailyDigest(deps, deps.config, new Date());
      if (deps.config.digestCatchUpMs > 0) await catchUpHourlyTicks(deps, deps.config, new Date());
    }
  };
  // The schedules must exist before the worker says it started; the catch-up (which may render an
  // edition) runs in the background, and its failure is only logged, like every later round.
  await assertSchedules(deps.queues, deps.config, options);
  let running: Promise<void> | undefined;
  // As often as the repair job runs when that is more often: it is the one a flush must not stop.
  const every = Math.min(deps.config.scheduleCheckMs, Math.max(1_000, deps.config.delivery.reconcileIntervalMs));
  const tick = () => {
    if (running) return;
    running = round()
      .catch((error: Error) => deps.log.warn({ err: error.message }, 'could not re-assert the schedules or catch up'))
      .finally(() => (running = undefined));
  };
  tick();
  const timer = setInterval(tick, every);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
