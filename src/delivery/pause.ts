import type { DeliveryDeps } from './deps.ts';
import { enqueueQueuedBatches } from './planner.ts';
import { nextEnqueueGeneration, pauseRun, resumeRun } from './send-run.repository.ts';
import type { SendRun } from './send-run.table.ts';

/**
 * Send runs this process paused. Rows a sender already claimed for them go back unsent instead
 * of being tried; shared by the process's sender and its resume, built once by the composition root.
 */
export class LocalPauses {
  private readonly paused = new Set<number>();
  has(runId: number): boolean {
    return this.paused.has(runId);
  }
  add(runId: number): void {
    this.paused.add(runId);
  }
  delete(runId: number): void {
    this.paused.delete(runId);
  }
}

/** Stops the run: nobody claims more of it, and this process gives back what it holds. */
export async function pauseSending(deps: Pick<DeliveryDeps, 'db' | 'log'>, pauses: LocalPauses, runId: number, reason: string): Promise<void> {
  pauses.add(runId);
  if (await pauseRun(deps.db, runId, reason)) deps.log.error({ runId, reason }, 'send run paused');
}

/** Lets a paused run continue where it stopped: planning if it never finished, else sending. */
export async function resumeSending(deps: DeliveryDeps, pauses: LocalPauses, runId: number): Promise<SendRun | undefined> {
  const run = await resumeRun(deps.db, runId);
  if (!run) return undefined;
  pauses.delete(runId);
  const generation = await nextEnqueueGeneration(deps.db, runId);
  if (run.status === 'planning') await deps.jobs.enqueuePlanning(runId, generation);
  else await enqueueQueuedBatches(deps, run, generation);
  return run;
}
