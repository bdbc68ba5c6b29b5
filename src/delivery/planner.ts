import { withAdvisoryLock } from '../db/advisory-lock.ts';
import type { Executor } from '../db/database.ts';
import type { Edition } from '../editions/edition.table.ts';
import { countDeliveries, findQueuedBatchWindows, planDeliveryRange } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { sendJobRetry } from './retry.ts';
import { finishIfDone } from './finish.ts';
import { beginPlanning, finishPlanning } from './send-run.repository.ts';
import { findEditionById } from '../editions/edition.repository.ts';

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
    // One planner per edition at a time (a re-delivered or re-enqueued plan job just leaves).
    const result = await withAdvisoryLock(deps.db, `plan-edition:${editionId}`, (conn) => planLedger(conn, deps, editionId));
    if (!result.locked || !result.value) return { planned: 0, batches: 0, planMs: 0 };
    edition = result.value.edition;
    planned = result.value.planned;
  }
  const planMs = Date.now() - started;
  const batches = await enqueueQueuedBatches(deps, edition, edition.enqueue_generation);
  await finishIfDone(deps, editionId);
  deps.log.info({ editionId, planned, batches, planMs }, 'edition planned');
  return { planned, batches, planMs };
}

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
 * Enqueues a send job for every batch window that still has queued rows. A batch is a fixed
 * window of ledger ids, so whoever cuts batches, now or after a crash, cuts the same ones.
 */
export async function enqueueQueuedBatches(deps: DeliveryDeps, edition: Pick<Edition, 'id' | 'batch_size'>, generation: number): Promise<number> {
  const batchSize = edition.batch_size ?? deps.delivery.batchSize;
  const windows = await findQueuedBatchWindows(deps.db, edition.id, batchSize);
  const retry = sendJobRetry(deps.delivery);
  for (let i = 0; i < windows.length; i += 1000) {
    await deps.jobs.enqueueSendBatches(
      generation,
      windows.slice(i, i + 1000).map((window) => ({
        window,
        editionId: edition.id,
        fromDeliveryId: Math.max(1, window * batchSize),
        toDeliveryId: (window + 1) * batchSize - 1,
      })),
      retry,
    );
  }
  return windows.length;
}
