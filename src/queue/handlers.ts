import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Redis } from 'ioredis';
import { planEdition, reconcileDeliveries, requestDailyDigest, Semaphore, sendBatch, type DeliveryDeps, type SenderDeps } from '../delivery/digest-delivery.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { createSendRateLimiter } from '../delivery/send-rate.ts';
import { digestDayForRun } from '../editions/digest-day.ts';
import type { Logger } from '../logger.ts';
import { daysToPoll, enrichDayFromArxiv, ingestDay } from '../papers/paper-jobs.ts';
import { prunePaperStats } from '../papers/paper.repository.ts';
import { createArxivClient } from '../papers/sources/arxiv.ts';
import { createHfDailyPapersClient } from '../papers/sources/hf-daily-papers.ts';
import { sendConfirmationEmail } from '../subscribers/subscription.service.ts';
import { jobIds } from './jobs.ts';
import type { Queues } from './queues.ts';
import type { JobHandlers } from './workers.ts';

export interface HandlerDeps {
  config: Config;
  db: Database;
  queues: Queues;
  mailer: Mailer;
  log: Logger;
  /** The workers' Redis connection (the shared send-rate bucket lives there). */
  redis: Redis;
  /** This process's id in delivery_workers. */
  workerId: string;
}

export function deliveryDeps({ config, db, queues, log }: Pick<HandlerDeps, 'config' | 'db' | 'queues' | 'log'>): DeliveryDeps {
  return {
    db,
    queues,
    log,
    secret: config.secret,
    message: { publicUrl: config.publicUrl, mailFrom: config.mailFrom, listId: config.listId },
    edition: { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers },
    delivery: config.delivery,
  };
}

export function senderDeps(deps: HandlerDeps): SenderDeps {
  return {
    ...deliveryDeps(deps),
    mailer: deps.mailer,
    rate: createSendRateLimiter(deps.redis, { key: `${deps.config.queuePrefix}:send-rate`, perSecond: deps.config.sendRate }),
    workerId: deps.workerId,
    lanes: 2,
    // A few messages queued per pooled connection keeps each one busy between replies.
    inFlight: new Semaphore(deps.config.smtpMaxConnections * 8),
  };
}

/** The job-name → handler registry. Handlers are thin: parse ids, call the feature's function. */
export function createJobHandlers(deps: HandlerDeps): JobHandlers {
  const sender = senderDeps(deps);
  const hf = createHfDailyPapersClient({ baseUrl: deps.config.hfApiUrl, token: deps.config.hfToken, log: deps.log });
  const arxiv = createArxivClient({ baseUrl: deps.config.arxivApiUrl, log: deps.log });
  return {
    'confirmation-email': ({ subscriberId }) =>
      sendConfirmationEmail(
        { db: deps.db, mailer: deps.mailer, publicUrl: deps.config.publicUrl, mailFrom: deps.config.mailFrom, maxPerHour: deps.config.confirmationMaxPerHour },
        subscriberId,
      ),
    'daily-digest': async (_data, job) => {
      const day = digestDayForRun(deps.config.digestTimeZone, new Date(job.timestamp));
      const edition = await requestDailyDigest(sender, day);
      return { day, editionId: edition.id, status: edition.status };
    },
    'plan-edition': ({ editionId }) => planEdition(sender, editionId),
    'send-batch': (batch) => sendBatch(sender, batch),
    'reconcile-deliveries': () => reconcileDeliveries(sender),
    'poll-papers': async (_data, job) => {
      const days = daysToPoll(new Date(job.timestamp), deps.config.ingestDays);
      for (const day of days) await enqueueIngestDay(deps.queues, day);
      // Growth looks back one day at most; two weeks of snapshots leave room for investigation.
      const pruned = await prunePaperStats(deps.db, new Date(job.timestamp - PAPER_STATS_KEEP_DAYS * 86_400_000));
      return { days, pruned };
    },
    'ingest-day': async ({ day }) => {
      const summary = await ingestDay({ db: deps.db, hf, log: deps.log }, day);
      if (summary === 'already_running') return { day, skipped: 'another poll of this day is running' };
      if (summary.inserted + summary.updated > 0) {
        await deps.queues.add('enrich-arxiv', { day }, { deduplication: { id: jobIds.enrichArxiv(day) }, attempts: 2 });
      }
      return { fetched: summary.fetched, inserted: summary.inserted, updated: summary.updated, invalid: summary.invalid };
    },
    'enrich-arxiv': async ({ day }) => {
      const result = await enrichDayFromArxiv({ db: deps.db, arxiv }, day);
      if (result.remaining) await deps.queues.add('enrich-arxiv', { day });
      return result;
    },
  };
}

/** One poll per day at a time: a request for a day already waiting or running is dropped. */
export async function enqueueIngestDay(queues: Queues, day: string): Promise<void> {
  // The client already retries with backoff; a day that still fails is polled again next round.
  await queues.add('ingest-day', { day }, { deduplication: { id: jobIds.ingestDay(day) }, attempts: 1 });
}

export const PAPER_POLL_SCHEDULER_ID = 'poll-papers';
const PAPER_STATS_KEEP_DAYS = 14;

export async function upsertPaperPollSchedule(queues: Queues, config: Config): Promise<void> {
  if (!config.ingestSchedule) {
    await queues.byName.papers.removeJobScheduler(PAPER_POLL_SCHEDULER_ID);
    return;
  }
  await queues.byName.papers.upsertJobScheduler(
    PAPER_POLL_SCHEDULER_ID,
    { every: Math.round(config.ingestIntervalHours * 3600 * 1000) },
    { name: 'poll-papers', data: {} },
  );
}

export const RECONCILE_SCHEDULER_ID = 'reconcile-deliveries';

/**
 * The periodic delivery repair job. The scheduler lives in Redis, so a worker checks now and
 * then that it still exists (Redis may have been flushed) and recreates it if not.
 */
export async function ensureReconcileSchedule(queues: Queues, config: Config): Promise<void> {
  const existing = await queues.byName.digest.getJobScheduler(RECONCILE_SCHEDULER_ID);
  if (existing && existing.every === config.delivery.reconcileIntervalMs) return;
  await queues.byName.digest.upsertJobScheduler(
    RECONCILE_SCHEDULER_ID,
    { every: config.delivery.reconcileIntervalMs },
    { name: 'reconcile-deliveries', data: {}, opts: { removeOnComplete: true, removeOnFail: { count: 100 } } },
  );
}

export const DAILY_DIGEST_SCHEDULER_ID = 'daily-digest';

/** Idempotent across deploys and replicas: the scheduler id is stable, the time comes from config. */
export async function upsertDailyDigestSchedule(queues: Queues, config: Config): Promise<void> {
  await queues.byName.digest.upsertJobScheduler(
    DAILY_DIGEST_SCHEDULER_ID,
    { pattern: `0 0 ${config.digestHour} * * *`, tz: config.digestTimeZone },
    { name: 'daily-digest', data: {} },
  );
}
