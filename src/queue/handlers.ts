import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { planEdition, requestDailyDigest, sendBatch, type DeliveryDeps, type SenderDeps } from '../delivery/digest-delivery.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { digestDayForRun } from '../editions/digest-day.ts';
import type { Logger } from '../logger.ts';
import { sendConfirmationEmail } from '../subscribers/subscription.service.ts';
import type { Queues } from './queues.ts';
import { isFinalAttempt, type JobHandlers } from './workers.ts';

export interface HandlerDeps {
  config: Config;
  db: Database;
  queues: Queues;
  mailer: Mailer;
  log: Logger;
}

export function deliveryDeps({ config, db, queues, log }: Omit<HandlerDeps, 'mailer'>): DeliveryDeps {
  return {
    db,
    queues,
    log,
    secret: config.secret,
    message: { publicUrl: config.publicUrl, mailFrom: config.mailFrom, listId: config.listId },
    edition: { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers },
  };
}

export function senderDeps(deps: HandlerDeps): SenderDeps {
  return { ...deliveryDeps(deps), mailer: deps.mailer, sendConcurrency: deps.config.smtpMaxConnections };
}

/** The job-name → handler registry. Handlers are thin: parse ids, call the feature's function. */
export function createJobHandlers(deps: HandlerDeps): JobHandlers {
  const sender = senderDeps(deps);
  return {
    'confirmation-email': ({ subscriberId }) =>
      sendConfirmationEmail({ db: deps.db, mailer: deps.mailer, publicUrl: deps.config.publicUrl, mailFrom: deps.config.mailFrom }, subscriberId),
    'daily-digest': async (_data, job) => {
      const day = digestDayForRun(deps.config.digestTimeZone, new Date(job.timestamp));
      const edition = await requestDailyDigest(sender, day);
      return { day, editionId: edition.id, status: edition.status };
    },
    'plan-edition': ({ editionId }) => planEdition(sender, editionId),
    'send-batch': (batch, job) => sendBatch(sender, batch, { isFinal: isFinalAttempt(job) }),
  };
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
