import { markAbandonedDeliveriesUnknown, pruneDeliveryWorkers } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { finishIfDone, recordSentPapers } from './finish.ts';
import { enqueueQueuedBatches } from './planner.ts';
import { findEditionsMissingSentPapers, findRunsInFlight, nextEnqueueGeneration } from './send-run.repository.ts';

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
  const editions = await findRunsInFlight(deps.db);
  if (editions.length === 0) return { unknown, reenqueued };
  // Any send job still waiting, delayed or running means the work is in hand.
  const pendingJobs = await deps.jobs.countPendingSendJobs();
  for (const edition of editions) {
    if (pendingJobs === 0) {
      const generation = await nextEnqueueGeneration(deps.db, edition.id);
      if (edition.status === 'planning') {
        await deps.jobs.enqueuePlanning(edition.id, generation);
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
