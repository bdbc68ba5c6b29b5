import { buildDailyEdition, type EditionSettings } from '../editions/edition.service.ts';
import type { Edition } from '../editions/edition.table.ts';
import type { DeliveryDeps } from './deps.ts';

/**
 * Builds the edition for `day` (once) and asks a worker to plan it (planner.ts). Safe to call any
 * number of times: the ledger decides who still gets mail, so a repeated call sends nothing new.
 */
export async function requestDailyDigest(deps: DeliveryDeps & { edition: EditionSettings }, day: string): Promise<Edition> {
  const edition = await buildDailyEdition(deps.db, day, deps.edition);
  if (edition.status === 'empty') {
    deps.log.info({ day }, 'no papers for this day: the edition is empty and is not sent');
    return edition;
  }
  if (edition.status === 'ready' || edition.status === 'planning' || edition.status === 'sending') {
    await deps.jobs.enqueuePlanning(edition.id, edition.enqueue_generation);
  }
  return edition;
}
