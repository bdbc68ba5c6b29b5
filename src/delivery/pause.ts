import type { Executor } from '../db/database.ts';
import type { DeliveryDeps } from './deps.ts';
import { enqueueQueuedBatches } from './planner.ts';
import { nextEnqueueGeneration, pauseRun, resumeRun } from './send-run.repository.ts';
import type { SendRun } from './send-run.table.ts';

/** How stale a sender's view of a run's pause may get: one status read per run per second per process. */
export const PAUSE_STATE_TTL_MS = 1_000;

/**
 * Whether a send run is paused, as a sender sees it. Pausing and resuming are send_runs.status in
 * Postgres, which any process may change (a worker pauses, `paperboy resume` or the admin API
 * resumes): nothing here is the truth, only a view of it no older than `ttlMs`.
 *
 * The claim itself claims rows of `planning` or `sending` runs only (claimQueuedDeliveries), so this view only
 * decides about rows already claimed when a pause lands: they go back to `queued` unsent. Two
 * facts refresh it without a read: this process paused the run, and a claim that began after the
 * last fact returned rows (so the run was not paused any more; e.g. resumed by another process).
 */
export class RunPauses {
  private readonly known = new Map<number, { paused: boolean; at: number }>();
  private readonly reads = new Map<number, Promise<boolean>>();
  constructor(
    private readonly ttlMs = PAUSE_STATE_TTL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async isPaused(db: Executor, runId: number): Promise<boolean> {
    const known = this.known.get(runId);
    if (known && this.now() - known.at < this.ttlMs) return known.paused;
    let read = this.reads.get(runId);
    if (!read) {
      const startedAt = this.now();
      read = db
        .selectFrom('send_runs')
        .select('status')
        .where('id', '=', runId)
        .executeTakeFirst()
        .then((row) => {
          const paused = row?.status === 'paused';
          this.learn(runId, paused, startedAt);
          return paused;
        })
        .finally(() => this.reads.delete(runId));
      this.reads.set(runId, read);
    }
    return read;
  }

  /** This process just paused the run (its pause is committed). */
  paused(runId: number): void {
    this.learn(runId, true, this.now());
  }

  /** A claim of the run's rows that began at `startedAt` (this class's clock) returned rows. */
  claimed(runId: number, startedAt: number): void {
    this.learn(runId, false, startedAt);
  }

  /** The clock `claimed` expects. */
  clock(): number {
    return this.now();
  }

  private learn(runId: number, paused: boolean, at: number): void {
    const known = this.known.get(runId);
    // Only a strictly later fact wins: a claim or read that began in the same instant as a pause
    // may have seen the run before the pause committed.
    if (known && known.at >= at) return;
    if (!known && this.known.size >= 64) this.known.delete(this.known.keys().next().value!);
    this.known.set(runId, { paused, at });
  }
}

/** Stops the run: nobody claims more of it, and this process gives back what it holds. */
export async function pauseSending(deps: Pick<DeliveryDeps, 'db' | 'log'>, pauses: RunPauses | undefined, runId: number, reason: string): Promise<void> {
  if (await pauseRun(deps.db, runId, reason)) deps.log.error({ runId, reason }, 'send run paused');
  pauses?.paused(runId);
}

/**
 * Lets a paused run continue where it stopped: planning if it never finished, else sending. Any
 * process may call it; every sender sees the run `sending` again within PAUSE_STATE_TTL_MS.
 * The queued rows get send jobs under a new generation of job ids: the jobs of before the pause
 * have completed (their claims found nothing) and must not block the new ones.
 */
export async function resumeSending(deps: DeliveryDeps, runId: number): Promise<SendRun | undefined> {
  const run = await resumeRun(deps.db, runId);
  if (!run) return undefined;
  const generation = await nextEnqueueGeneration(deps.db, runId);
  if (run.status === 'planning') await deps.jobs.enqueuePlanning(runId, generation);
  else await enqueueQueuedBatches(deps, run, generation);
  return run;
}
