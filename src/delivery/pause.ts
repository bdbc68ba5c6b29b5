import type { Edition } from '../editions/edition.table.ts';
import type { DeliveryDeps } from './deps.ts';
import { enqueueQueuedBatches } from './planner.ts';
import { nextEnqueueGeneration, pauseRun, resumeRun } from './send-run.repository.ts';

/**
 * Editions this process paused. Rows a sender already claimed for them go back unsent instead of
 * being tried; shared by the process's sender and its resume, built once by the composition root.
 */
export class LocalPauses {
  private readonly paused = new Set<number>();
  has(editionId: number): boolean {
    return this.paused.has(editionId);
  }
  add(editionId: number): void {
    this.paused.add(editionId);
  }
  delete(editionId: number): void {
    this.paused.delete(editionId);
  }
}

/** Stops the edition: nobody claims more of it, and this process gives back what it holds. */
export async function pauseSending(deps: Pick<DeliveryDeps, 'db' | 'log'>, pauses: LocalPauses, editionId: number, reason: string): Promise<void> {
  pauses.add(editionId);
  if (await pauseRun(deps.db, editionId, reason)) deps.log.error({ editionId, reason }, 'edition paused');
}

/** Lets a paused edition continue where it stopped: planning if it never finished, else sending. */
export async function resumeSending(deps: DeliveryDeps, pauses: LocalPauses, editionId: number): Promise<Edition | undefined> {
  const edition = await resumeRun(deps.db, editionId);
  if (!edition) return undefined;
  pauses.delete(editionId);
  const generation = await nextEnqueueGeneration(deps.db, editionId);
  if (edition.status === 'planning') await deps.jobs.enqueuePlanning(editionId, generation);
  else await enqueueQueuedBatches(deps, edition, generation);
  return edition;
}
