import { sql } from 'kysely';
import type { DeliveryDeps } from './deps.ts';
import { ensureSendRun } from './send-run.repository.ts';

/**
 * The welcome edition (issue #10, item 7): right after confirming, a reader gets the latest
 * edition of their frequency (a weekly reader without a weekly edition yet: the latest daily one)
 * at once, so the first email is not a day away. A run of its own (audience `welcome:<id>`),
 * planned like any other: their own selection, and the ledger's unique (subscriber, edition)
 * makes it once per person and edition, however often it is asked for, and keeps the hourly
 * tick from sending that edition to them again.
 */
export async function requestWelcomeEdition(deps: DeliveryDeps, subscriberId: number): Promise<{ editionId?: number; runId?: number; status: string }> {
  const reader = await deps.db.selectFrom('subscribers').select(['status', 'frequency']).where('id', '=', subscriberId).executeTakeFirst();
  if (!reader || reader.status !== 'active') return { status: 'not_active' };
  const edition = await deps.db
    .selectFrom('editions')
    .select(['id', 'kind'])
    .where('status', '=', 'ready')
    .where(sql<boolean>`cardinality(paper_ids) > 0`)
    .orderBy(sql`kind = ${reader.frequency}`, 'desc')
    .orderBy('digest_date', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!edition) return { status: 'no_edition' };
  const run = await ensureSendRun(deps.db, edition.id, `welcome:${subscriberId}`);
  if (run.status === 'ready' || run.status === 'planning' || run.status === 'sending') await deps.jobs.enqueuePlanning(run.id, run.enqueue_generation);
  deps.log.info({ subscriberId, editionId: edition.id, runId: run.id }, 'welcome edition requested');
  return { editionId: edition.id, runId: run.id, status: run.status };
}
