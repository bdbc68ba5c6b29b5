import { withAdvisoryLock } from '../db/advisory-lock.ts';
import type { Executor } from '../db/database.ts';
import { findEditionById } from '../editions/edition.repository.ts';
import type { EditionSettings } from '../editions/edition.service.ts';
import { countDeliveries, findQueuedBatchWindows } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { finishIfDone } from './finish.ts';
import { sendJobRetry } from './retry.ts';
import { beginPlanning, findSendRunById, finishPlanning } from './send-run.repository.ts';
import type { SendRun } from './send-run.table.ts';
import { planPersonalRange, preparePlan } from './personal-plan.ts';

export type PlannerDeps = DeliveryDeps & { edition: EditionSettings };

/** The advisory lock a planner holds while it writes a run's ledger. */
export const planLockKey = (runId: number) => `plan-run:${runId}`;

/**
 * Writes one ledger row per reader of the run's audience active when planning began, with the
 * variant they get (personal-plan.ts), a range of subscriber ids at a time. Sending starts while
 * planning goes on: after each range, the batch windows no later range can add rows to get their
 * send jobs, and the senders claim rows of a run that is `planning` as of one that is `sending`
 * (a million readers: planning overlaps the send instead of preceding it). A planner that crashes
 * resumes from the run's plan cursor with the same cutoff.
 */
export async function planRun(deps: PlannerDeps, runId: number): Promise<{ planned: number; batches: number; planMs: number }> {
  const found = await findSendRunById(deps.db, runId);
  if (!found || !['ready', 'planning', 'sending'].includes(found.status)) return { planned: 0, batches: 0, planMs: 0 };
  const started = Date.now();
  let run: SendRun = found;
  let planned = found.planned_count;
  if (!found.planned_at) {
    // One planner per run at a time (a re-delivered or re-enqueued plan job just leaves).
    const result = await withAdvisoryLock(deps.db, planLockKey(runId), (conn) => planLedger(conn, deps, runId));
    if (!result.locked || !result.value) return { planned: 0, batches: 0, planMs: 0 };
    run = result.value.run;
    planned = result.value.planned;
  }
  const planMs = Date.now() - started;
  const batches = await enqueueQueuedBatches(deps, run, run.enqueue_generation);
  await finishIfDone(deps, runId);
  deps.log.info({ runId, editionId: run.edition_id, planned, batches, planMs }, 'send run planned');
  return { planned, batches, planMs };
}

/**
 * Subscriber ids per planning statement. Rows are ordered by variant within a range, and a sender
 * reads and compiles a variant once per stretch of its rows, so a personal send costs the worker
 * about (variants / range size) compiles per message: with 1,309 variants, 20,000-id ranges cost
 * ~70 µs more worker CPU per message than 100,000-id ones (BENCHMARKS.md, personal digests). The
 * price is the first send jobs of a run waiting for a bigger first range (~3 s at 100,000).
 */
const PLAN_RANGE_SIZE = 100_000;

async function planLedger(db: Executor, deps: PlannerDeps, runId: number): Promise<{ run: SendRun; planned: number } | undefined> {
  const begun = await beginPlanning(db, runId, deps.delivery.batchSize);
  if (!begun) return undefined;
  if (begun.planned_at) return { run: begun, planned: begun.planned_count };
  const rangeSize = deps.delivery.planRangeSize ?? PLAN_RANGE_SIZE;
  const max = begun.plan_max_subscriber_id ?? 0;
  const edition = await findEditionById(db, begun.edition_id);
  if (!edition) return undefined;
  const context = await preparePlan(db, begun, edition, deps.edition, begun.plan_started_at ?? new Date());
  const batchSize = begun.batch_size ?? deps.delivery.batchSize;
  // Windows below this one have their jobs (or had no rows); 0 after a restart: enqueueing a
  // window again under the same generation adds nothing.
  let nextWindow = 0;
  for (let cursor = begun.plan_cursor; cursor < max; ) {
    const through = Math.min(cursor + rangeSize, max);
    const { lastId } = await planPersonalRange(db, context, { afterSubscriberId: cursor, throughSubscriberId: through, cutoff: begun.plan_started_at! });
    cursor = through;
    // Paused meanwhile (its first rows may have been refused): stop here; resuming plans on from the cursor.
    if ((await findSendRunById(db, runId))?.status !== 'planning') return undefined;
    // Ids only grow, so the window holding the last id may still get rows; those before it not.
    const complete = lastId === undefined ? nextWindow - 1 : Math.floor(lastId / batchSize) - 1;
    if (cursor < max && complete >= nextWindow) {
      await enqueueQueuedBatches({ ...deps, db }, begun, begun.enqueue_generation, { from: nextWindow, through: complete });
      nextWindow = complete + 1;
    }
  }
  deps.log.info({ runId, audience: begun.audience, groups: context.counts.groups, variants: context.variants.size, notSent: context.counts.notSent }, 'personal selections planned');
  const planned = await countDeliveries(db, runId);
  await finishPlanning(db, runId, planned);
  return { run: (await findSendRunById(db, runId)) ?? begun, planned };
}

/**
 * Enqueues a send job for every batch window that still has queued rows, delayed until its first
 * row is due (rows waiting out a backoff). A batch is a fixed window of ledger ids, so whoever
 * cuts batches, now or after a crash, cuts the same ones.
 */
export async function enqueueQueuedBatches(
  deps: Pick<DeliveryDeps, 'jobs' | 'delivery'> & { db: Executor },
  run: Pick<SendRun, 'id' | 'batch_size'>,
  generation: number,
  only: { from?: number; through?: number } = {},
): Promise<number> {
  const batchSize = run.batch_size ?? deps.delivery.batchSize;
  const windows = await findQueuedBatchWindows(deps.db, run.id, batchSize, only);
  const retry = sendJobRetry(deps.delivery);
  for (let i = 0; i < windows.length; i += 1000) {
    await deps.jobs.enqueueSendBatches(
      generation,
      windows.slice(i, i + 1000).map(({ window, delayMs }) => ({
        window,
        delayMs,
        runId: run.id,
        fromDeliveryId: Math.max(1, window * batchSize),
        toDeliveryId: (window + 1) * batchSize - 1,
      })),
      retry,
    );
  }
  return windows.length;
}
