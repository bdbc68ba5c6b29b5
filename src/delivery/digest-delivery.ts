import type { Database } from '../db/database.ts';
import { buildDailyEdition, type EditionSettings } from '../editions/edition.service.ts';
import { findEditionById, finishEditionIfDone, setEditionStatus } from '../editions/edition.repository.ts';
import type { Edition } from '../editions/edition.table.ts';
import type { Logger } from '../logger.ts';
import { jobIds } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';
import { findActiveSubscriberIdsAfter } from '../subscribers/subscriber.repository.ts';
import { createSubscriberToken } from '../subscribers/tokens.ts';
import { markSubscriberBounced } from '../subscribers/subscriber.repository.ts';
import { buildDigestMessage, prepareEdition, type MessageContext, type PreparedEdition } from './digest-message.ts';
import {
  claimQueuedDeliveries,
  findQueuedDeliveryIdsAfter,
  insertQueuedDeliveries,
  recordDeliveryOutcome,
  recordSentPapers,
  requeueDelivery,
} from './delivery.repository.ts';
import type { Mailer } from './mailer.ts';
import { classifySmtpError } from './smtp-errors.ts';

export interface DeliveryDeps {
  db: Database;
  queues: Queues;
  log: Logger;
  secret: string;
  message: MessageContext;
  edition: EditionSettings;
  planPageSize?: number;
  batchSize?: number;
}

export interface SenderDeps extends DeliveryDeps {
  mailer: Mailer;
  sendConcurrency: number;
}

/**
 * Builds the edition for `day` (once) and asks a worker to plan it. Safe to call any number of
 * times: the ledger decides who still gets mail, so a repeated call sends nothing new.
 */
export async function requestDailyDigest(deps: DeliveryDeps, day: string): Promise<Edition> {
  const edition = await buildDailyEdition(deps.db, day, deps.edition);
  if (edition.status === 'empty') {
    deps.log.info({ day }, 'no papers for this day: the edition is empty and is not sent');
    return edition;
  }
  if (edition.status !== 'sent' && edition.status !== 'paused') {
    await deps.queues.add('plan-edition', { editionId: edition.id }, { jobId: jobIds.planEdition(edition.id) });
  }
  return edition;
}

/**
 * Writes a ledger row per active subscriber (keyset pages, never the whole list in memory), once
 * per edition, then cuts the queued rows into send batches with deterministic job ids.
 */
export async function planEdition(deps: DeliveryDeps, editionId: number): Promise<{ planned: number; batches: number }> {
  const edition = await findEditionById(deps.db, editionId);
  if (!edition || edition.status === 'empty' || edition.status === 'sent' || edition.status === 'paused') return { planned: 0, batches: 0 };
  const pageSize = deps.planPageSize ?? 2000;
  let planned = edition.planned_count;
  if (!edition.planned_at) {
    await setEditionStatus(deps.db, editionId, 'planning');
    planned = 0;
    let after = 0;
    for (;;) {
      const ids = await findActiveSubscriberIdsAfter(deps.db, after, pageSize);
      if (ids.length === 0) break;
      await insertQueuedDeliveries(deps.db, editionId, ids);
      planned += ids.length;
      after = ids.at(-1)!;
    }
    await setEditionStatus(deps.db, editionId, 'sending', { plannedCount: planned, planned: true });
  }
  const batches = await enqueueQueuedBatches(deps, editionId);
  await finishEditionIfDone(deps.db, editionId);
  return { planned, batches };
}

/** Enqueues a send job for every range of still-queued ledger rows (also used to recover lost jobs). */
export async function enqueueQueuedBatches(deps: DeliveryDeps, editionId: number): Promise<number> {
  const batchSize = deps.batchSize ?? 100;
  let after = 0;
  let batches = 0;
  for (;;) {
    const ids = await findQueuedDeliveryIdsAfter(deps.db, editionId, after, batchSize * 50);
    if (ids.length === 0) break;
    const jobs = [];
    for (let i = 0; i < ids.length; i += batchSize) {
      const slice = ids.slice(i, i + batchSize);
      const fromDeliveryId = slice[0]!;
      jobs.push({ data: { editionId, fromDeliveryId, toDeliveryId: slice.at(-1)! }, jobId: jobIds.sendBatch(editionId, fromDeliveryId) });
    }
    await deps.queues.addBulk('send-batch', jobs);
    batches += jobs.length;
    after = ids.at(-1)!;
  }
  return batches;
}

const preparedEditions = new Map<number, PreparedEdition & { paperIds: string[] }>();

async function loadPreparedEdition(deps: DeliveryDeps, editionId: number) {
  let prepared = preparedEditions.get(editionId);
  if (!prepared) {
    const edition = await findEditionById(deps.db, editionId);
    if (!edition) return undefined;
    prepared = { ...prepareEdition(edition), paperIds: edition.paper_ids };
    // Only a handful of editions are ever in flight; keep the cache from growing without bound.
    if (preparedEditions.size > 16) preparedEditions.delete(preparedEditions.keys().next().value!);
    preparedEditions.set(editionId, prepared);
  }
  return prepared;
}

export class TransientSendError extends Error {
  constructor(readonly requeued: number) {
    super(`${requeued} deliveries failed transiently and were put back in the queue`);
    this.name = 'TransientSendError';
  }
}

/**
 * Sends one batch. Progress is what the ledger records per message, so a crash loses at most
 * the messages in flight (left `sending`, later reported `unknown`), and never sends twice.
 */
export async function sendBatch(
  deps: SenderDeps,
  batch: { editionId: number; fromDeliveryId: number; toDeliveryId: number },
  attempt: { isFinal: boolean } = { isFinal: false },
): Promise<{ sent: number; skipped: number; failed: number; requeued: number }> {
  const edition = await loadPreparedEdition(deps, batch.editionId);
  if (!edition) return { sent: 0, skipped: 0, failed: 0, requeued: 0 };
  const claimed = await claimQueuedDeliveries(deps.db, batch.editionId, batch.fromDeliveryId, batch.toDeliveryId);
  const counts = { sent: 0, skipped: 0, failed: 0, requeued: 0 };

  const sendOne = async (delivery: (typeof claimed)[number]) => {
    if (delivery.subscriberStatus !== 'active') {
      await recordDeliveryOutcome(deps.db, delivery.id, { status: 'skipped', reason: `subscriber ${delivery.subscriberStatus}` });
      counts.skipped++;
      return;
    }
    const message = buildDigestMessage(
      edition,
      {
        subscriberId: delivery.subscriberId,
        email: delivery.email,
        unsubscribeToken: createSubscriberToken(deps.secret, 'unsubscribe', delivery.subscriberId, delivery.tokenVersion),
      },
      deps.message,
    );
    try {
      const outcome = await deps.mailer.send(message);
      await recordDeliveryOutcome(deps.db, delivery.id, {
        status: 'sent',
        messageId: String(message.messageId),
        smtpResponse: outcome.response,
      });
      await recordSentPapers(deps.db, delivery.subscriberId, batch.editionId, edition.paperIds);
      counts.sent++;
    } catch (error) {
      const failure = classifySmtpError(error);
      if (failure.kind === 'hard_bounce') {
        await recordDeliveryOutcome(deps.db, delivery.id, { status: 'bounced', messageId: String(message.messageId), smtpResponse: failure.response, reason: 'hard bounce' });
        await markSubscriberBounced(deps.db, delivery.subscriberId);
        counts.failed++;
      } else if (failure.kind === 'permanent' || attempt.isFinal) {
        await recordDeliveryOutcome(deps.db, delivery.id, {
          status: 'failed',
          messageId: String(message.messageId),
          smtpResponse: failure.response,
          reason: failure.kind === 'permanent' ? 'permanent SMTP failure' : 'gave up after retries',
        });
        counts.failed++;
      } else {
        await requeueDelivery(deps.db, delivery.id, failure.response);
        counts.requeued++;
      }
      deps.log.warn({ deliveryId: delivery.id, kind: failure.kind, response: failure.response }, 'digest delivery failed');
    }
  };

  // The pool holds sendConcurrency connections; keeping that many messages in flight overlaps round trips.
  let next = 0;
  const lanes = Array.from({ length: Math.min(deps.sendConcurrency, claimed.length) }, async () => {
    while (next < claimed.length) await sendOne(claimed[next++]!);
  });
  await Promise.all(lanes);
  await finishEditionIfDone(deps.db, batch.editionId);
  if (counts.requeued > 0) throw new TransientSendError(counts.requeued);
  return counts;
}
