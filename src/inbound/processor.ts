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
const KICK_DELAY_MS = 50;
const PURGE_EVERY_MS = 3_600_000;

/**
 * Works through stored reports: on a kick and every `sweepMs` (which picks up what a crashed
 * process left), and purges raw messages older than `rawRetentionMs` once an hour. Several
 * processes may run this at once: reports are claimed under row locks, skipping locked ones
 * (process-batch.ts).
 */
export function startReportProcessor(deps: ReportDeps & { log: Logger }, options: { sweepMs: number; rawRetentionMs: number }): ReportProcessor {
  let running: Promise<void> | undefined;
  let pending: NodeJS.Timeout | undefined;
  let again = false;
  let stopped = false;
  let lastPurge = 0;

  const drain = async () => {
    again = false;
    let after = 0;
    for (;;) {
      if (stopped) return;
      const ids = await processReportBatch(deps, BATCH, after);
      // A short batch means nothing more was pending; what arrived meanwhile kicked again.
      if (ids.length < BATCH) break;
      after = ids[ids.length - 1]!;
    }
    if (Date.now() - lastPurge > PURGE_EVERY_MS) {
      lastPurge = Date.now();
      const purged = await purgeOldRaw(deps.db, options.rawRetentionMs);
      await pruneReplayKeys(deps.db);
      if (purged > 0) deps.log.info({ purged }, 'inbound: raw reports past their retention cleared');
    }
  };
  const run = () => {
    pending = undefined;
    running = drain()
      .catch((error: unknown) => deps.log.error({ err: error }, 'inbound: processing sweep failed'))
      .finally(() => {
        running = undefined;
        if (again) kick();
      });
  };
  // A kick waits KICK_DELAY_MS for more reports, so that mail arriving one message at a time is
  // still processed in batches (a batch of one costs as many statements as a batch of 250).
  const kick = () => {
    if (stopped) return;
    if (running) again = true;
    else pending ??= setTimeout(run, KICK_DELAY_MS);
  };
  const timer = setInterval(kick, options.sweepMs);
  timer.unref();
  kick();
  return {
    kick,
    async idle() {
      while (running || pending) await (running ?? new Promise((resolve) => setTimeout(resolve, KICK_DELAY_MS)));
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(pending);
      pending = undefined;
      await running;
    },
  };
}
