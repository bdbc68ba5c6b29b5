import type { DeliveryJobs, SendJobRetry } from '../delivery/deps.ts';
import { attemptsForRetryWindow, SMTP_BACKOFF } from '../delivery/retry.ts';
import { jobIds } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';
import type { SubscriptionJobs } from '../subscribers/subscription.service.ts';

/*
 * The features' "enqueue" functions, implemented on the queues. The only place that knows which
 * job, which job id and which options each request becomes.
 */

export function deliveryJobs(queues: Queues): DeliveryJobs {
  return {
    async enqueuePlanning(runId, generation) {
      await queues.add('plan-run', { runId }, { jobId: jobIds.planRun(runId, generation) });
    },
    async enqueueSendBatches(generation, batches, retry) {
      await queues.addBulk(
        'send-batch',
        batches.map(({ window, delayMs, runId, fromDeliveryId, toDeliveryId }) => ({
          data: { runId, fromDeliveryId, toDeliveryId, generation, round: 0 },
          jobId: jobIds.sendBatch(runId, generation, window),
          options: { ...sendJobOptions(retry), ...(delayMs ? { delay: Math.ceil(delayMs) } : {}) },
        })),
      );
    },
    async enqueueSendRetry(batch, delayMs, retry) {
      const generation = batch.generation ?? 0;
      await queues.add('send-batch', { ...batch, generation }, {
        ...sendJobOptions(retry),
        jobId: jobIds.sendBatchRetry(batch.runId, generation, batch.fromDeliveryId, batch.round),
        delay: Math.max(0, Math.ceil(delayMs)),
      });
    },
    async runsWithPendingJobs() {
      const runs = { planning: new Set<number>(), sending: new Set<number>() };
      for (const id of await queues.pendingJobIds('send')) {
        const of = jobIds.runOf(id);
        if (of) (of.job === 'plan-run' ? runs.planning : runs.sending).add(of.runId);
      }
      return runs;
    },
  };
}

function sendJobOptions(retry: SendJobRetry) {
  return { attempts: retry.attempts, backoff: { type: 'exponential' as const, delay: retry.backoffDelayMs, jitter: retry.jitter } };
}

/**
 * Retries of person-facing mail (confirmations, data-access links) that failed transiently: the
 * delivery backoff (retry.ts: SEND_RETRY_DELAY_MS doubling to SEND_RETRY_MAX_DELAY_MS), for as
 * many tries as span SEND_RETRY_WINDOW_MINUTES, so a relay outage of minutes does not drop a
 * person's confirmation (BullMQ's default of 5 tries 2 s apart gave up within a minute).
 */
export function mailJobOptions(settings: Parameters<typeof attemptsForRetryWindow>[0]) {
  return { attempts: attemptsForRetryWindow(settings), backoff: { type: SMTP_BACKOFF } };
}

/**
 * Collapses bursts of requests for one person into one mail job until it has run (no ttl: a later
 * request, e.g. a resubscribe a minute after signing up, gets its own job).
 */
export function subscriptionJobs(queues: Queues, retry: ReturnType<typeof mailJobOptions>, options: { welcomeEdition: boolean } = { welcomeEdition: true }): SubscriptionJobs {
  return {
    enqueueConfirmation: (subscriberId) => queues.add('confirmation-email', { subscriberId }, { ...retry, deduplication: { id: jobIds.confirmationEmail(subscriberId) } }),
    enqueueDataAccess: (subscriberId) => queues.add('data-access-email', { subscriberId }, { ...retry, deduplication: { id: jobIds.dataAccessEmail(subscriberId) } }),
    enqueueWelcome: async (subscriberId) => {
      if (options.welcomeEdition) await queues.add('welcome-edition', { subscriberId }, { deduplication: { id: jobIds.welcomeEdition(subscriberId) } });
    },
  };
}

/**
 * Queues the confirmations of an import, spaced at `perSecond` (SEND_RATE) by job delays: the
 * operator chose to mail these people, so the hourly cap that guards the public form does not
 * apply (`imported`), but the relay still sees a steady pace rather than the whole list at once.
 */
export function enqueueImportConfirmations(queues: Queues, perSecond: number, retry: ReturnType<typeof mailJobOptions>): (subscriberIds: number[]) => Promise<void> {
  let queued = 0;
  return async (subscriberIds) => {
    await queues.addBulk(
      'confirmation-email',
      subscriberIds.map((subscriberId) => ({
        data: { subscriberId, imported: true },
        jobId: jobIds.confirmationEmail(subscriberId),
        options: { ...retry, delay: Math.floor((queued++ * 1000) / perSecond) },
      })),
    );
  };
}

/** One poll per day at a time: a request for a day already waiting or running is dropped. */
export async function enqueueIngestDay(queues: Queues, day: string): Promise<void> {
  // The client already retries with backoff; a day that still fails is polled again next round.
  await queues.add('ingest-day', { day }, { deduplication: { id: jobIds.ingestDay(day) }, attempts: 1 });
}

export async function enqueueArxivEnrichment(queues: Queues, day: string, options: { firstRound: boolean }): Promise<void> {
  if (options.firstRound) await queues.add('enrich-arxiv', { day }, { deduplication: { id: jobIds.enrichArxiv(day) }, attempts: 2 });
  else await queues.add('enrich-arxiv', { day });
}
