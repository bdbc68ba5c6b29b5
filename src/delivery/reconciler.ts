import { markAbandonedDeliveriesUnknown, pruneDeliveryWorkers } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { finishIfDone } from './finish.ts';
import { isAdvisoryLockHeld } from '../db/advisory-lock.ts';
import { enqueueQueuedBatches, planLockKey } from './planner.ts';
import { findRunsInFlight, nextEnqueueGeneration } from './send-run.repository.ts';

/**
 * The periodic repair job. Rows left `sending` by dead workers become `unknown`; runs whose jobs
 * were lost (Redis flushed or restarted) get their queued rows enqueued again under a new job-id
 * generation; finished runs are closed. Everything is rebuilt from Postgres.
 */
export async function reconcileDeliveries(deps: DeliveryDeps): Promise<{ unknown: number; reenqueued: number[] }> {
  const swept = await markAbandonedDeliveriesUnknown(deps.db, deps.delivery.leaseMs, deps.delivery.staleClaimMs);
  const unknown = swept.reduce((sum, s) => sum + s.n, 0);
  if (unknown > 0) deps.log.warn({ swept }, 'deliveries abandoned by a stopped worker are now unknown (not re-sent)');
  await pruneDeliveryWorkers(deps.db);
  const reenqueued: number[] = [];
  const runs = await findRunsInFlight(deps.db);
  if (runs.length === 0) return { unknown, reenqueued };
  // A run still planning is in hand while its planning job waits or runs, or a planner holds its
  // plan lock whatever started it (its send jobs, planning goes on sending, do not count); a run
  // planned is in hand while any of its jobs waits, is delayed or runs. The others lost their jobs.
  const pending = await deps.jobs.runsWithPendingJobs();
  for (const run of runs) {
    const inHand =
      run.status === 'planning'
        ? pending.planning.has(run.id) || (await isAdvisoryLockHeld(deps.db, planLockKey(run.id)))
        : pending.planning.has(run.id) || pending.sending.has(run.id);
    if (!inHand) {
      const generation = await nextEnqueueGeneration(deps.db, run.id);
      if (run.status === 'planning') {
        await deps.jobs.enqueuePlanning(run.id, generation);
        reenqueued.push(run.id);
      } else if ((await enqueueQueuedBatches(deps, run, generation)) > 0) {
        reenqueued.push(run.id);
      }
    }
    if (run.status === 'sending') await finishIfDone(deps, run.id);
  }
  if (reenqueued.length > 0) deps.log.warn({ runs: reenqueued }, 'send jobs were missing: re-enqueued the queued deliveries');
  return { unknown, reenqueued };
}
