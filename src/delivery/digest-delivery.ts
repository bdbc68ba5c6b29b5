import { sql } from 'kysely';
import type { Database, Executor } from '../db/database.ts';
import { buildDailyEdition, type EditionSettings } from '../editions/edition.service.ts';
import {
  beginPlanning,
  countPolicyFailure,
  findEditionById,
  findEditionsInFlight,
  findEditionsMissingSentPapers,
  finishEditionIfDone,
  finishPlanning,
  markSentPapersRecorded,
  nextEnqueueGeneration,
  pauseEdition,
  resumeEdition,
} from '../editions/edition.repository.ts';
import type { Edition } from '../editions/edition.table.ts';
import type { Logger } from '../logger.ts';
import { jobIds } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';
import { markSubscriberBounced } from '../subscribers/subscriber.repository.ts';
import { createSubscriberToken } from '../subscribers/tokens.ts';
import {
  claimQueuedDeliveries,
  countDeliveries,
  findQueuedBatchWindows,
  hasUnfinishedDeliveries,
  markAbandonedDeliveriesUnknown,
  planDeliveryRange,
  pruneDeliveryWorkers,
  recordDeliveryOutcomes,
  recordSentPapersForEdition,
  recordSoftBounce,
  releaseDelivery,
  requeueDelivery,
  type ClaimedDelivery,
  type DeliveryOutcome,
} from './delivery.repository.ts';
import { buildDigestMessage, preferencesUrl, prepareEdition, unsubscribeUrl, type MessageContext, type PreparedEdition } from './digest-message.ts';
import { assembleDigest, assembleDigestParts, compileDigestMime, type CompiledDigest } from './digest-mime.ts';
import type { Mailer } from './mailer.ts';
import type { SendRateLimiter } from './send-rate.ts';
import { classifySmtpError, type SmtpFailure } from './smtp-errors.ts';

export interface DeliverySettings {
  batchSize: number;
  maxAttempts: number;
  retryDelayMs: number;
  leaseMs: number;
  policyPauseThreshold: number;
  softBounceLimit: number;
  softBounceDays: number;
  /** Subscriber ids per planning statement. */
  planRangeSize?: number;
}

export interface DeliveryDeps {
  db: Database;
  queues: Queues;
  log: Logger;
  secret: string;
  message: MessageContext;
  edition: EditionSettings;
  delivery: DeliverySettings;
}

export interface SenderDeps extends DeliveryDeps {
  mailer: Mailer;
  rate: SendRateLimiter;
  /** This process's id in delivery_workers; stamped on every row it claims. */
  workerId: string;
  /** Claim-and-send loops per batch job; with the job concurrency they keep the pool busy. */
  lanes: number;
  /** Messages assembled and handed to the transport but not finished, per process. */
  inFlight: Semaphore;
}

/**
 * Bounds the messages in flight in this process: enough to keep every pooled connection busy,
 * few enough that memory stays flat (each one is a ~70 kB buffer until the server has it).
 */
export class Semaphore {
  private available: number;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    this.available = size;
  }
  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.available++;
  }
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
  if (edition.status === 'ready' || edition.status === 'planning' || edition.status === 'sending') {
    await deps.queues.add('plan-edition', { editionId: edition.id }, { jobId: jobIds.planEdition(edition.id, edition.enqueue_generation) });
  }
  return edition;
}

/**
 * Writes one ledger row per subscriber active when planning began, a range of subscriber ids per
 * statement (INSERT … SELECT: no ids travel to the client), then enqueues the send batches.
 * A planner that crashes resumes from the edition's plan cursor with the same cutoff.
 */
export async function planEdition(deps: DeliveryDeps, editionId: number): Promise<{ planned: number; batches: number; planMs: number }> {
  const found = await findEditionById(deps.db, editionId);
  if (!found || !['ready', 'planning', 'sending'].includes(found.status)) return { planned: 0, batches: 0, planMs: 0 };
  const started = Date.now();
  let edition: Edition = found;
  let planned = found.planned_count;
  if (!found.planned_at) {
    // One planner per edition at a time (a re-delivered or re-enqueued plan job just leaves); the
    // session lock dies with the planner's connection, so a crashed planner never blocks a new one.
    const result = await deps.db.connection().execute(async (conn) => {
      const locked = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${PLAN_LOCK_NAMESPACE}, ${editionId}::int) as ok`.execute(conn);
      if (!locked.rows[0]?.ok) return undefined;
      try {
        return await planLedger(conn, deps, editionId);
      } finally {
        await sql`select pg_advisory_unlock(${PLAN_LOCK_NAMESPACE}, ${editionId}::int)`.execute(conn);
      }
    });
    if (!result) return { planned: 0, batches: 0, planMs: 0 };
    edition = result.edition;
    planned = result.planned;
  }
  const planMs = Date.now() - started;
  const batches = await enqueueQueuedBatches(deps, edition, edition.enqueue_generation);
  await finishIfDone(deps, editionId);
  deps.log.info({ editionId, planned, batches, planMs }, 'edition planned');
  return { planned, batches, planMs };
}

const PLAN_LOCK_NAMESPACE = 0x5042_706c; // "PBpl"

async function planLedger(db: Executor, deps: DeliveryDeps, editionId: number): Promise<{ edition: Edition; planned: number } | undefined> {
  const begun = await beginPlanning(db, editionId, deps.delivery.batchSize);
  if (!begun) return undefined;
  if (begun.planned_at) return { edition: begun, planned: begun.planned_count };
  const rangeSize = deps.delivery.planRangeSize ?? 20_000;
  const max = begun.plan_max_subscriber_id ?? 0;
  for (let cursor = begun.plan_cursor; cursor < max; ) {
    const through = Math.min(cursor + rangeSize, max);
    await planDeliveryRange(db, editionId, { afterSubscriberId: cursor, throughSubscriberId: through, cutoff: begun.plan_started_at! });
    cursor = through;
  }
  const planned = await countDeliveries(db, editionId);
  await finishPlanning(db, editionId, planned);
  return { edition: (await findEditionById(db, editionId)) ?? begun, planned };
}

/**
 * Enqueues a send job for every batch window that still has queued rows. Job ids are
 * deterministic per (edition, generation, window): a repeated call adds nothing.
 */
export async function enqueueQueuedBatches(deps: DeliveryDeps, edition: Pick<Edition, 'id' | 'batch_size'>, generation: number): Promise<number> {
  const batchSize = edition.batch_size ?? deps.delivery.batchSize;
  const windows = await findQueuedBatchWindows(deps.db, edition.id, batchSize);
  const options = {
    attempts: deps.delivery.maxAttempts,
    backoff: { type: 'exponential' as const, delay: deps.delivery.retryDelayMs, jitter: 0.5 },
  };
  for (let i = 0; i < windows.length; i += 1000) {
    await deps.queues.addBulk(
      'send-batch',
      windows.slice(i, i + 1000).map((w) => ({
        data: { editionId: edition.id, fromDeliveryId: Math.max(1, w * batchSize), toDeliveryId: (w + 1) * batchSize - 1 },
        jobId: jobIds.sendBatch(edition.id, generation, w),
        options,
      })),
    );
  }
  return windows.length;
}

/**
 * Marks the edition sent once nothing is queued or sending, then records who got which papers.
 * That second step writes a row per (person, paper), so it runs after the status change, under a
 * lock, and is marked done; the reconcile job repeats it for an edition a crash interrupted.
 */
export async function finishIfDone(deps: Pick<DeliveryDeps, 'db' | 'log'>, editionId: number): Promise<boolean> {
  if (await hasUnfinishedDeliveries(deps.db, editionId)) return false;
  const finished = await finishEditionIfDone(deps.db, editionId);
  if (finished) {
    deps.log.info({ editionId }, 'edition finished');
    await recordSentPapers(deps, editionId);
  }
  return finished;
}

const SENT_PAPERS_LOCK_NAMESPACE = 0x5042_7370; // "PBsp"

/** Writes the edition's sent_papers once (idempotent insert; one writer at a time). */
export async function recordSentPapers(deps: Pick<DeliveryDeps, 'db' | 'log'>, editionId: number): Promise<boolean> {
  const started = Date.now();
  const done = await deps.db.connection().execute(async (conn) => {
    const locked = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${SENT_PAPERS_LOCK_NAMESPACE}, ${editionId}::int) as ok`.execute(conn);
    if (!locked.rows[0]?.ok) return false;
    try {
      await recordSentPapersForEdition(conn, editionId);
      await markSentPapersRecorded(conn, editionId);
      return true;
    } finally {
      await sql`select pg_advisory_unlock(${SENT_PAPERS_LOCK_NAMESPACE}, ${editionId}::int)`.execute(conn);
    }
  });
  if (done) deps.log.info({ editionId, ms: Date.now() - started }, 'sent papers recorded');
  return done;
}

interface EditionForSending {
  compiled: CompiledDigest;
  prepared: PreparedEdition;
}

const editionsForSending = new Map<number, EditionForSending>();
/** Editions this process paused: rows already claimed for them go back unsent. */
const pausedHere = new Set<number>();

async function loadEditionForSending(deps: DeliveryDeps, editionId: number): Promise<EditionForSending | undefined> {
  let loaded = editionsForSending.get(editionId);
  if (!loaded) {
    const edition = await findEditionById(deps.db, editionId);
    if (!edition) return undefined;
    // The MIME of the whole edition is built here, once per process; per message only splicing.
    const dotStuffed = typeof (deps as Partial<SenderDeps>).mailer?.sendStuffed === 'function';
    loaded = { compiled: compileDigestMime(edition, deps.message, { dotStuffed }), prepared: prepareEdition(edition) };
    // Only a handful of editions are ever in flight; keep the cache from growing without bound.
    if (editionsForSending.size > 16) editionsForSending.delete(editionsForSending.keys().next().value!);
    editionsForSending.set(editionId, loaded);
  }
  return loaded;
}

export class TransientSendError extends Error {
  constructor(readonly requeued: number) {
    super(`${requeued} deliveries failed transiently and were put back in the queue`);
    this.name = 'TransientSendError';
  }
}

export interface BatchCounts {
  sent: number;
  skipped: number;
  bounced: number;
  failed: number;
  requeued: number;
}

/**
 * Sends one batch window: claim a chunk of rows (status lock), send each through the pooled
 * transport, record the chunk's outcomes in one statement, repeat. The ledger is the progress:
 * a crash leaves at most the chunks in flight `sending` (later `unknown`), and nothing is sent
 * twice. Transient failures go back to `queued` and the job is retried with backoff.
 */
export async function sendBatch(
  deps: SenderDeps,
  batch: { editionId: number; fromDeliveryId: number; toDeliveryId: number },
): Promise<BatchCounts> {
  const counts: BatchCounts = { sent: 0, skipped: 0, bounced: 0, failed: 0, requeued: 0 };
  const edition = await loadEditionForSending(deps, batch.editionId);
  if (!edition) return counts;
  const recording: Promise<unknown>[] = [];

  const sendOne = async (row: ClaimedDelivery, outcomes: DeliveryOutcome[]) => {
    if (pausedHere.has(batch.editionId)) {
      await releaseDelivery(deps.db, row.id);
      return;
    }
    if (row.subscriberStatus !== 'active') {
      outcomes.push({ id: row.id, status: 'skipped', reason: `subscriber ${row.subscriberStatus}` });
      counts.skipped++;
      return;
    }
    const unsubscribeToken = createSubscriberToken(deps.secret, 'unsubscribe', row.subscriberId, row.tokenVersion);
    const preferencesToken = createSubscriberToken(deps.secret, 'preferences', row.subscriberId, row.tokenVersion);
    const values = {
      UNSUBSCRIBE_URL: unsubscribeUrl(deps.message.publicUrl, unsubscribeToken),
      PREFERENCES_URL: preferencesUrl(deps.message.publicUrl, preferencesToken),
    };
    const recipient = { subscriberId: row.subscriberId, email: row.email, values };
    // The direct path writes the pieces as they are; nodemailer gets one buffer.
    const assembled = edition.compiled.dotStuffed ? assembleDigestParts(edition.compiled, recipient) : assembleDigest(edition.compiled, recipient);
    const messageId = assembled?.messageId ?? `<digest.e${batch.editionId}.s${row.subscriberId}@${edition.compiled.messageIdDomain}>`;
    try {
      // An address that cannot go into a header as it is takes the full MIME builder instead.
      const envelope = { from: edition.compiled.envelopeFrom, to: row.email };
      const { response } = assembled
        ? 'parts' in assembled
          ? await deps.mailer.sendStuffed!(envelope, assembled.parts)
          : await deps.mailer.sendRaw(envelope, assembled.raw)
        : await deps.mailer.send(buildDigestMessage(edition.prepared, { subscriberId: row.subscriberId, email: row.email, unsubscribeToken, preferencesToken }, deps.message));
      outcomes.push({ id: row.id, status: 'sent', messageId, smtpResponse: response });
      counts.sent++;
    } catch (error) {
      await handleFailure(deps, batch.editionId, row, messageId, classifySmtpError(error), counts);
    }
  };

  const lane = async () => {
    for (;;) {
      const tokens = await deps.rate.take(deps.rate.maxChunk);
      const rows = await claimQueuedDeliveries(deps.db, {
        editionId: batch.editionId,
        fromId: batch.fromDeliveryId,
        toId: batch.toDeliveryId,
        limit: tokens,
        workerId: deps.workerId,
      });
      if (rows.length === 0) return;
      const outcomes: DeliveryOutcome[] = [];
      const sends: Promise<void>[] = [];
      for (const row of rows) {
        await deps.inFlight.acquire();
        sends.push(sendOne(row, outcomes).finally(() => deps.inFlight.release()));
      }
      await Promise.all(sends);
      // Recording overlaps the next chunk's sending; the job only completes once all are recorded.
      recording.push(recordDeliveryOutcomes(deps.db, deps.workerId, outcomes));
      if (rows.length < tokens) return;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.lanes) }, lane));
  await Promise.all(recording);
  await finishIfDone(deps, batch.editionId);
  if (counts.requeued > 0) throw new TransientSendError(counts.requeued);
  return counts;
}

async function handleFailure(deps: SenderDeps, editionId: number, row: ClaimedDelivery, messageId: string, failure: SmtpFailure, counts: BatchCounts) {
  const record = (status: DeliveryOutcome['status'], reason: string) =>
    recordDeliveryOutcomes(deps.db, deps.workerId, [
      { id: row.id, status, messageId, smtpResponse: failure.response, enhancedCode: failure.enhancedCode, reason },
    ]);
  const log = { editionId, deliveryId: row.id, subscriberId: row.subscriberId, kind: failure.kind, response: failure.response };
  switch (failure.kind) {
    case 'hard_bounce':
      await record('bounced', `hard bounce ${failure.enhancedCode ?? failure.responseCode ?? ''}: address suppressed`.trim());
      await markSubscriberBounced(deps.db, row.subscriberId);
      counts.bounced++;
      deps.log.info(log, 'hard bounce: subscriber suppressed');
      return;
    case 'soft_bounce':
      await record('failed', `soft bounce ${failure.enhancedCode ?? ''}: not retried in this edition`);
      await countSoftBounce(deps, editionId, row, failure);
      counts.failed++;
      return;
    case 'policy': {
      await record('failed', `policy rejection ${failure.enhancedCode ?? failure.responseCode ?? ''}: recipient kept`);
      counts.failed++;
      const total = await countPolicyFailure(deps.db, editionId);
      if (total >= deps.delivery.policyPauseThreshold) {
        const reason = `paused after ${total} policy rejections (5.7.x: sender authentication or reputation); last reply: ${failure.response}`;
        pausedHere.add(editionId);
        if (await pauseEdition(deps.db, editionId, reason)) deps.log.error({ editionId, reason }, 'edition paused');
      }
      deps.log.warn(log, 'policy rejection');
      return;
    }
    case 'permanent':
      await record('failed', `permanent failure ${failure.enhancedCode ?? failure.responseCode ?? ''}`.trim());
      counts.failed++;
      deps.log.warn(log, 'permanent SMTP failure');
      return;
    case 'transient':
      if (row.attempts >= deps.delivery.maxAttempts) {
        await record('failed', `gave up after ${row.attempts} attempts`);
        if (failure.softIfFinal) await countSoftBounce(deps, editionId, row, failure);
        counts.failed++;
        deps.log.warn(log, 'transient failures did not clear: gave up');
      } else {
        await requeueDelivery(deps.db, row.id, { smtpResponse: failure.response, enhancedCode: failure.enhancedCode });
        counts.requeued++;
      }
      return;
  }
}

async function countSoftBounce(deps: SenderDeps, editionId: number, row: ClaimedDelivery, failure: SmtpFailure) {
  const { consecutive, suppress } = await recordSoftBounce(deps.db, {
    subscriberId: row.subscriberId,
    editionId,
    response: failure.response,
    limit: deps.delivery.softBounceLimit,
    minDays: deps.delivery.softBounceDays,
  });
  if (suppress) {
    await markSubscriberBounced(deps.db, row.subscriberId);
    deps.log.info({ subscriberId: row.subscriberId, consecutive }, 'repeated soft bounces: subscriber suppressed');
  }
}

/**
 * The periodic repair job. Rows left `sending` by dead workers become `unknown`; editions whose
 * jobs were lost (Redis flushed or restarted) get their queued rows enqueued again under a new
 * job-id generation; finished editions are closed. Everything is rebuilt from Postgres.
 */
export async function reconcileDeliveries(deps: DeliveryDeps): Promise<{ unknown: number; reenqueued: number[] }> {
  const swept = await markAbandonedDeliveriesUnknown(deps.db, deps.delivery.leaseMs);
  const unknown = swept.reduce((sum, s) => sum + s.n, 0);
  if (unknown > 0) deps.log.warn({ swept }, 'deliveries abandoned by a stopped worker are now unknown (not re-sent)');
  await pruneDeliveryWorkers(deps.db);
  for (const edition of await findEditionsMissingSentPapers(deps.db)) {
    // Finished at least a lease ago: the worker that finished it is done or dead.
    if (edition.finished_at && Date.now() - new Date(edition.finished_at).getTime() > deps.delivery.leaseMs) await recordSentPapers(deps, edition.id);
  }
  const reenqueued: number[] = [];
  const editions = await findEditionsInFlight(deps.db);
  if (editions.length === 0) return { unknown, reenqueued };
  // Any send job still waiting, delayed or running means the work is in hand.
  const pendingJobs = await deps.queues.countPendingJobs('send');
  for (const edition of editions) {
    if (pendingJobs === 0) {
      const generation = await nextEnqueueGeneration(deps.db, edition.id);
      if (edition.status === 'planning') {
        await deps.queues.add('plan-edition', { editionId: edition.id }, { jobId: jobIds.planEdition(edition.id, generation) });
        reenqueued.push(edition.id);
      } else if ((await enqueueQueuedBatches(deps, edition, generation)) > 0) {
        reenqueued.push(edition.id);
      }
    }
    if (edition.status === 'sending') await finishIfDone(deps, edition.id);
  }
  if (reenqueued.length > 0) deps.log.warn({ editions: reenqueued }, 'send jobs were missing: re-enqueued the queued deliveries');
  return { unknown, reenqueued };
}

/** Lets a paused edition continue where it stopped. */
export async function resumeEditionSending(deps: DeliveryDeps, editionId: number): Promise<Edition | undefined> {
  const edition = await resumeEdition(deps.db, editionId);
  if (!edition) return undefined;
  pausedHere.delete(editionId);
  const generation = await nextEnqueueGeneration(deps.db, editionId);
  if (edition.status === 'planning') await deps.queues.add('plan-edition', { editionId }, { jobId: jobIds.planEdition(editionId, generation) });
  else await enqueueQueuedBatches(deps, edition, generation);
  return edition;
}
