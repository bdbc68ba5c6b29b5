import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';

export interface DeliverySettings {
  /** A row `sending` this long was lost by its worker even if that worker is alive (see the sweep). */
  staleClaimMs?: number;
  batchSize: number;
  maxAttempts: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  retryWindowMs: number;
  leaseMs: number;
  policyPauseThreshold: number;
  softBounceLimit: number;
  softBounceDays: number;
  /** Subscriber ids per planning statement. */
  planRangeSize?: number;
}

/** One send job: a fixed window of ledger ids of one send run. */
export interface SendBatch {
  runId: number;
  fromDeliveryId: number;
  toDeliveryId: number;
  /** The job-id generation this job belongs to (see jobIds.sendBatch). */
  generation?: number | undefined;
  /** 0 for the first job of a window, n for its n-th delayed return after transient failures. */
  round?: number | undefined;
}

/** How a failed send job is retried by the queue (see failure-policy.ts). */
export interface SendJobRetry {
  attempts: number;
  backoffDelayMs: number;
  jitter: number;
}

/**
 * What delivery needs from the job queue. The composition root implements it (src/app/jobs.ts):
 * delivery never sees queue names, job ids or BullMQ.
 */
export interface DeliveryJobs {
  /** Asks a worker to plan a send run; one job per (run, generation), so repeats add nothing. */
  enqueuePlanning(runId: number, generation: number): Promise<void>;
  /**
   * One send job per window; job ids per (run, generation, window), so repeats add nothing. A
   * window whose rows wait out a backoff starts after `delayMs`.
   */
  enqueueSendBatches(generation: number, batches: readonly (SendBatch & { window: number; delayMs?: number })[], retry: SendJobRetry): Promise<void>;
  /**
   * Brings a window's send job back after `delayMs`, when its earliest deferred row is due; the
   * job id is per (run, generation, window, round), so a repeat of the same job adds nothing.
   */
  enqueueSendRetry(batch: SendBatch & { round: number }, delayMs: number, retry: SendJobRetry): Promise<void>;
  /** The runs with a planning job, and those with a send job, not finished yet (waiting, delayed or running). */
  runsWithPendingJobs(): Promise<{ planning: Set<number>; sending: Set<number> }>;
}

/**
 * Set once when the process begins to shut down (src/app/shutdown.ts): senders claim nothing
 * more and give back what they claimed but did not start.
 */
export interface StopSignal {
  readonly stopping: boolean;
}

/** What every delivery module gets: the database, the job queue port, a logger, the settings. */
export interface DeliveryDeps {
  db: Database;
  jobs: DeliveryJobs;
  log: Logger;
  delivery: DeliverySettings;
}
