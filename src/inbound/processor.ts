import type { Logger } from '../logger.ts';
import { purgeOldRaw } from './inbound-report.repository.ts';
import { processReportBatch } from './process-batch.ts';
import { pruneReplayKeys } from './webhooks/verify.ts';
import type { ReportDeps } from './process-report.ts';

export interface ReportProcessor {
  /** Process what is pending now (called after each stored report). */
  kick(): void;
  /** Resolves when nothing is pending or being processed. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

// Reports per transaction (process-batch.ts): large enough that statements and commits are few,
// small enough that a kill loses little work and a batch's locks are short.
const BATCH = 250;
const PURGE_EVERY_MS = 3_600_000;

/**
 * Works through stored reports: on a kick and every `sweepMs` (which picks up what a crashed
 * process left), and purges raw messages older than `rawRetentionMs` once an hour. Several
 * processes may run this at once: reports are claimed under row locks, skipping locked ones
 * (process-batch.ts).
 */
export function startReportProcessor(deps: ReportDeps & { log: Logger }, options: { sweepMs: number; rawRetentionMs: number }): ReportProcessor {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastPurge = 0;

  const drain = async () => {
    do {
      again = false;
      let after = 0;
      for (;;) {
        if (stopped) return;
        const ids = await processReportBatch(deps, BATCH, after);
        if (ids.length === 0) break;
        after = ids[ids.length - 1]!;
      }
    } while (again && !stopped);
    if (Date.now() - lastPurge > PURGE_EVERY_MS) {
      lastPurge = Date.now();
      const purged = await purgeOldRaw(deps.db, options.rawRetentionMs);
      await pruneReplayKeys(deps.db);
      if (purged > 0) deps.log.info({ purged }, 'inbound: raw reports past their retention cleared');
    }
  };
  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((error: unknown) => deps.log.error({ err: error }, 'inbound: processing sweep failed'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(kick, options.sweepMs);
  timer.unref();
  kick();
  return {
    kick,
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
