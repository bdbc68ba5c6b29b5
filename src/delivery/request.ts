import { buildDailyEdition, type EditionSettings } from '../editions/edition.service.ts';
import type { Edition } from '../editions/edition.table.ts';
import type { DeliveryDeps } from './deps.ts';
import { ensureSendRun } from './send-run.repository.ts';
import type { SendRun } from './send-run.table.ts';

/**
 * Builds the edition for `day` (once), creates its send run (once) and asks a worker to plan it
 * (planner.ts). Safe to call any number of times: the ledger decides who still gets mail, so a
 * repeated call sends nothing new. An empty edition gets no run.
 */
export async function requestDailyDigest(deps: DeliveryDeps & { edition: EditionSettings }, day: string): Promise<{ edition: Edition; run?: SendRun }> {
  const edition = await buildDailyEdition(deps.db, day, deps.edition);
  if (edition.status === 'empty') {
    deps.log.info({ day }, 'no papers for this day: the edition is empty and is not sent');
    return { edition };
  }
  const run = await ensureSendRun(deps.db, edition.id);
  if (run.status === 'ready' || run.status === 'planning' || run.status === 'sending') {
    await deps.jobs.enqueuePlanning(run.id, run.enqueue_generation);
  }
  return { edition, run };
}
