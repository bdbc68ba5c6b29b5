import { hasUnfinishedDeliveries } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { finishRunIfDone } from './send-run.repository.ts';

/**
 * Marks the run sent once nothing is queued or sending. Nothing is written per person and paper:
 * what a person received is the ledger's sent rows joined to the run's edition.
 */
export async function finishIfDone(deps: Pick<DeliveryDeps, 'db' | 'log'>, runId: number): Promise<boolean> {
  if (await hasUnfinishedDeliveries(deps.db, runId)) return false;
  const finished = await finishRunIfDone(deps.db, runId);
  if (finished) deps.log.info({ runId }, 'send run finished');
  return finished;
}
