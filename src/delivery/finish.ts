import { withAdvisoryLock } from '../db/advisory-lock.ts';
import { hasUnfinishedDeliveries, recordSentPapersForEdition } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { finishRunIfDone, markSentPapersRecorded } from './send-run.repository.ts';

/**
 * Marks the edition sent once nothing is queued or sending, then records who got which papers.
 * That second step writes a row per (person, paper), so it runs after the status change, under a
 * lock, and is marked done; the reconcile job repeats it for an edition a crash interrupted.
 */
export async function finishIfDone(deps: Pick<DeliveryDeps, 'db' | 'log'>, editionId: number): Promise<boolean> {
  if (await hasUnfinishedDeliveries(deps.db, editionId)) return false;
  const finished = await finishRunIfDone(deps.db, editionId);
  if (finished) {
    deps.log.info({ editionId }, 'edition finished');
    await recordSentPapers(deps, editionId);
  }
  return finished;
}

/** Writes the edition's sent_papers once (idempotent insert; one writer at a time). */
export async function recordSentPapers(deps: Pick<DeliveryDeps, 'db' | 'log'>, editionId: number): Promise<boolean> {
  const started = Date.now();
  const done = await withAdvisoryLock(deps.db, `sent-papers:${editionId}`, async (conn) => {
    await recordSentPapersForEdition(conn, editionId);
    await markSentPapersRecorded(conn, editionId);
  });
  if (done.locked) deps.log.info({ editionId, ms: Date.now() - started }, 'sent papers recorded');
  return done.locked;
}
