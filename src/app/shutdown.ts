import type { StopSignal } from '../delivery/deps.ts';
import type { Logger } from '../logger.ts';

/** Raised once; the senders read it (sender.ts) before every claim and every hand-over to the relay. */
export function createStopSignal(): StopSignal & { raise(): void } {
  const signal = {
    stopping: false,
    raise() {
      signal.stopping = true;
    },
  };
  return signal;
}

/** How long jobs get, once the connections are cut, to record their outcomes before the database closes. */
const RECORD_AFTER_ABORT_MS = 5_000;

export interface DrainOptions {
  stop: ReturnType<typeof createStopSignal>;
  workers: { close(): Promise<void> };
  /** The SMTP clients of this process (digest transport, general mail). */
  transports: { drain(): void; abort(): void }[];
  graceMs: number;
  log: Logger;
}

/**
 * A sending process's graceful stop (SIGTERM, Ctrl-C). Claiming stops and rows claimed but not
 * handed to the relay go back to `queued` (sender.ts); the queue workers take no new job and
 * wait for the jobs under way, whose SMTP transactions run to their reply and are recorded. A
 * reply that has not come within the grace period is not waited for: the connections are cut,
 * so a message whose final dot had gone out becomes `unknown` (the relay may have it) and one
 * cut before it goes back to `queued`. The grace period stays under the orchestrator's stop
 * timeout (docker's is 10 s by default; docker-compose.yml sets stop_grace_period).
 */
export async function drainWorkers({ stop, workers, transports, graceMs, log }: DrainOptions): Promise<void> {
  stop.raise();
  for (const transport of transports) transport.drain();
  const closing = workers.close();
  closing.catch(() => {});
  if (await settlesWithin(closing, graceMs)) return;
  log.warn({ graceSeconds: graceMs / 1000 }, 'shutdown grace period over: cutting SMTP connections still waiting for a reply');
  for (const transport of transports) transport.abort();
  if (!(await settlesWithin(closing, RECORD_AFTER_ABORT_MS))) {
    // Rows still `sending` now are found by their worker's lease (reconciler.ts), as after a crash.
    log.warn('jobs did not finish after the SMTP connections were cut; moving on');
  }
}

async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
