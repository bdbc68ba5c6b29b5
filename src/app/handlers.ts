import type { RedisConnection as Redis } from '../redis-connection.ts';
import { reconcileDeliveries } from '../delivery/reconciler.ts';
import type { DigestTransport } from '../delivery/digest-transport.ts';
import type { StopSignal } from '../delivery/deps.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { RunPauses } from '../delivery/pause.ts';
import { RunBudgetChecks } from '../delivery/run-budget.ts';
import { planRun } from '../delivery/planner.ts';
import { RunContentCache, Semaphore, sendBatch, type SenderDeps } from '../delivery/sender.ts';
import { createSendRateLimiter } from '../delivery/send-rate.ts';
import { createDomainPacer } from '../delivery/domain-pacing.ts';
import { createMxGrouping } from '../delivery/mx-groups.ts';
import { DAY_MS } from '../dates.ts';
import { digestDayForRun } from '../editions/digest-day.ts';
import { daysToPoll, enrichDayFromArxiv, ingestDay } from '../papers/paper-jobs.ts';
import { prunePaperStats } from '../papers/paper.repository.ts';
import { createArxivClient } from '../papers/sources/arxiv.ts';
import { createHfDailyPapersClient } from '../papers/sources/hf-daily-papers.ts';
import type { JobHandlers } from '../queue/workers.ts';
import { sendConfirmationEmail, type ConfirmationMailDeps } from '../subscribers/subscription.service.ts';
import { sendDataAccessEmail } from '../subscribers/data-access.service.ts';
import { enqueueArxivEnrichment, enqueueIngestDay } from './jobs.ts';
import { dueAt } from './schedules.ts';
import type { AppServices, Infrastructure } from './services.ts';

export interface WorkerDeps extends Infrastructure {
  services: AppServices;
  /** General mail (confirmations). */
  mailer: Mailer;
  /** The digest's transport. */
  transport: DigestTransport;
  /** The workers' Redis connection (the shared send-rate bucket lives there). */
  redis: Redis;
  /** This process's id in delivery_workers. */
  workerId: string;
  /** Raised when the process begins to shut down (src/app/shutdown.ts). */
  stop: StopSignal;
}

const PAPER_STATS_KEEP_DAYS = 14;
const HOUR_MS = 3_600_000;

export function senderDeps(deps: WorkerDeps): SenderDeps {
  return {
    ...deps.services.delivery,
    pauses: new RunPauses(),
    budget: new RunBudgetChecks(deps.config.runBudget),
    transport: deps.transport,
    pacing: createDomainPacer(deps.redis, {
      keyPrefix: `${deps.config.queuePrefix}:pace`,
      settings: deps.config.domainPacing,
      mx: deps.config.domainPacing.mx && createMxGrouping(deps.config.domainPacing.mx),
    }),
    rate: createSendRateLimiter(deps.redis, { key: `${deps.config.queuePrefix}:send-rate`, perSecond: deps.config.sendRate }),
    secret: deps.config.secret,
    mailFrom: deps.config.mailFrom,
    bounce: deps.config.bounce ? { ...deps.config.bounce, secrets: [deps.config.secret] } : undefined,
    workerId: deps.workerId,
    lanes: 2,
    // A few messages queued per pooled connection keeps each one busy between replies.
    inFlight: new Semaphore(deps.config.smtpMaxConnections * 8),
    editions: new RunContentCache(),
    stop: deps.stop,
  };
}

/** The job-name → handler registry. Handlers are thin: parse ids, call the feature's function. */
export function createJobHandlers(deps: WorkerDeps): JobHandlers {
  const sender = senderDeps(deps);
  const hf = createHfDailyPapersClient({ baseUrl: deps.config.hfApiUrl, token: deps.config.hfToken, log: deps.log });
  const arxiv = createArxivClient({ baseUrl: deps.config.arxivApiUrl, log: deps.log });
  const mail: ConfirmationMailDeps = {
    db: deps.db,
    mailer: deps.mailer,
    publicUrl: deps.config.publicUrl,
    mailFrom: deps.config.mailFrom,
    maxPerHour: deps.config.confirmationMaxPerHour,
    perMailbox: deps.config.rateLimits.subscribeAddress,
  };
  return {
    // Imported people are paced by the import's job delays instead of the hourly cap.
    'confirmation-email': ({ subscriberId, imported }) => sendConfirmationEmail(imported ? { ...mail, maxPerHour: 0 } : mail, subscriberId),
    'data-access-email': ({ subscriberId }) => sendDataAccessEmail(mail, subscriberId),
    'daily-digest': async (_data, job) => {
      const day = digestDayForRun(deps.config.digestTimeZone, dueAt(job));
      const { edition, run } = await deps.services.requestDailyDigest(day);
      return { day, editionId: edition.id, runId: run?.id, status: run?.status ?? edition.status };
    },
    'deliver-due': async ({ at }, job) => {
      // A scheduler's job runs for the hour it was scheduled at (its creation time plus delay),
      // however late a worker picks it up.
      const scheduled = at ? Date.parse(at) : job.timestamp + (job.opts.delay ?? 0);
      const runs = await deps.services.deliverDue(new Date(at ? scheduled : Math.round(scheduled / HOUR_MS) * HOUR_MS));
      return { runs };
    },
    'welcome-edition': ({ subscriberId }) => deps.services.requestWelcomeEdition(subscriberId),
    'plan-run': ({ runId }) => planRun(sender, runId),
    'send-batch': (batch) => sendBatch(sender, batch),
    'reconcile-deliveries': () => reconcileDeliveries(sender),
    'poll-papers': async (_data, job) => {
      const days = daysToPoll(dueAt(job), deps.config.ingestDays);
      for (const day of days) await enqueueIngestDay(deps.queues, day);
      // Growth looks back one day at most; two weeks of snapshots leave room for investigation.
      const pruned = await prunePaperStats(deps.db, new Date(job.timestamp - PAPER_STATS_KEEP_DAYS * DAY_MS));
      return { days, pruned };
    },
    'ingest-day': async ({ day }) => {
      const summary = await ingestDay({ db: deps.db, hf, log: deps.log }, day);
      if (summary === 'already_running') return { day, skipped: 'another poll of this day is running' };
      if (summary.inserted + summary.updated > 0) await enqueueArxivEnrichment(deps.queues, day, { firstRound: true });
      return { fetched: summary.fetched, inserted: summary.inserted, updated: summary.updated, invalid: summary.invalid };
    },
    'enrich-arxiv': async ({ day }) => {
      const result = await enrichDayFromArxiv({ db: deps.db, arxiv }, day);
      if (result.remaining) await enqueueArxivEnrichment(deps.queues, day, { firstRound: false });
      return result;
    },
  };
}
