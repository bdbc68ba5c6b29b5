import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DeliveryStatus } from './delivery.table.ts';

/** Writes one ledger row per subscriber; rows that already exist are left as they are. */
export async function insertQueuedDeliveries(db: Executor, editionId: number, subscriberIds: number[]): Promise<number> {
  if (subscriberIds.length === 0) return 0;
  const result = await db
    .insertInto('deliveries')
    .values(subscriberIds.map((subscriberId) => ({ edition_id: editionId, subscriber_id: subscriberId })))
    .onConflict((oc) => oc.columns(['edition_id', 'subscriber_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n);
}

/** Keyset page of queued delivery ids of an edition, for cutting send batches. */
export async function findQueuedDeliveryIdsAfter(db: Executor, editionId: number, afterId: number, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select('id')
    .where('edition_id', '=', editionId)
    .where('status', '=', 'queued')
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

export interface ClaimedDelivery {
  id: number;
  subscriberId: number;
  email: string;
  subscriberStatus: string;
  tokenVersion: number;
}

/**
 * Moves queued rows of a batch to `sending` in one statement. SKIP LOCKED lets two workers that
 * got the same batch split it instead of both sending it; the status guard makes a second claim
 * of a row impossible.
 */
export async function claimQueuedDeliveries(db: Executor, editionId: number, fromId: number, toId: number): Promise<ClaimedDelivery[]> {
  const result = await sql<{ id: number; subscriber_id: number; email: string; status: string; token_version: number }>`
    with claimable as (
      select id from deliveries
      where edition_id = ${editionId} and id between ${fromId} and ${toId} and status = 'queued'
      order by id
      for update skip locked
    ), claimed as (
      update deliveries d
      set status = 'sending', attempts = d.attempts + 1, updated_at = now()
      from claimable
      where d.id = claimable.id
      returning d.id, d.subscriber_id
    )
    select claimed.id, claimed.subscriber_id, s.email, s.status, s.token_version
    from claimed join subscribers s on s.id = claimed.subscriber_id
    order by claimed.id`.execute(db);
  return result.rows.map((r) => ({
    id: r.id,
    subscriberId: r.subscriber_id,
    email: r.email,
    subscriberStatus: r.status,
    tokenVersion: r.token_version,
  }));
}

export async function recordDeliveryOutcome(
  db: Executor,
  id: number,
  outcome: { status: Exclude<DeliveryStatus, 'queued' | 'sending'>; messageId?: string; smtpResponse?: string; reason?: string },
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({
      status: outcome.status,
      message_id: outcome.messageId ?? null,
      smtp_response: outcome.smtpResponse?.slice(0, 1000) ?? null,
      reason: outcome.reason?.slice(0, 1000) ?? null,
      updated_at: sql`now()`,
      ...(outcome.status === 'sent' ? { sent_at: sql`now()` } : {}),
    })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

/** A transient failure puts the row back so the retried job can claim it again. */
export async function requeueDelivery(db: Executor, id: number, reason: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'queued', reason: reason.slice(0, 1000), updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

export async function countDeliveriesByStatus(db: Executor, editionId: number): Promise<Record<DeliveryStatus, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('edition_id', '=', editionId)
    .groupBy('status')
    .execute();
  const counts: Record<DeliveryStatus, number> = { queued: 0, sending: 0, sent: 0, failed: 0, bounced: 0, skipped: 0, unknown: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

export async function recordSentPapers(db: Executor, subscriberId: number, editionId: number, arxivIds: readonly string[]): Promise<void> {
  if (arxivIds.length === 0) return;
  await db
    .insertInto('sent_papers')
    .values(arxivIds.map((arxivId) => ({ subscriber_id: subscriberId, arxiv_id: arxivId, edition_id: editionId })))
    .onConflict((oc) => oc.columns(['subscriber_id', 'arxiv_id']).doNothing())
    .execute();
}
