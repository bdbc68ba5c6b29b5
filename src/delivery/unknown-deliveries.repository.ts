import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/*
 * The operator's side of the ledger's `unknown` rows (`paperboy unknown`): rows whose connection
 * was lost after the message was handed to the relay, which nobody may re-send on their own.
 */

export interface UnknownDelivery {
  id: number;
  subscriberId: number;
  email: string;
  attempts: number;
  reason: string | null;
  smtpResponse: string | null;
  messageId: string | null;
  updatedAt: Date;
}

/** The rows of a send run whose outcome nobody knows, for an operator to decide on. */
export async function findUnknownDeliveries(db: Executor, runId: number): Promise<UnknownDelivery[]> {
  const rows = await db
    .selectFrom('deliveries')
    .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
    .select([
      'deliveries.id',
      'deliveries.subscriber_id',
      'subscribers.email',
      'deliveries.attempts',
      'deliveries.reason',
      'deliveries.smtp_response',
      'deliveries.message_id',
      'deliveries.updated_at',
    ])
    .where('deliveries.run_id', '=', runId)
    .where('deliveries.status', '=', 'unknown')
    .orderBy('deliveries.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    subscriberId: r.subscriber_id,
    email: r.email,
    attempts: r.attempts,
    reason: r.reason,
    smtpResponse: r.smtp_response,
    messageId: r.message_id,
    updatedAt: r.updated_at as Date,
  }));
}

/** An operator's decision that the relay did take these messages (its logs say so, say). */
export async function markUnknownDeliveriesSent(db: Executor, runId: number): Promise<number> {
  const result = await db
    .updateTable('deliveries')
    .set({
      status: 'sent',
      sent_at: sql`coalesce(sent_at, updated_at)`,
      reason: sql`'marked sent by an operator; was unknown: ' || coalesce(reason, '')`,
      updated_at: sql`now()`,
    })
    .where('run_id', '=', runId)
    .where('status', '=', 'unknown')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * An operator's decision to send these again, accepting that someone may get the digest twice.
 * The rows go back to `queued` with their attempts kept, and no longer belong to any worker.
 */
export async function requeueUnknownDeliveries(db: Executor, runId: number): Promise<number> {
  const result = await db
    .updateTable('deliveries')
    .set({
      status: 'queued',
      claimed_by: null,
      retry_at: null,
      reason: sql`'re-sent by an operator; was unknown: ' || coalesce(reason, '')`,
      updated_at: sql`now()`,
    })
    .where('run_id', '=', runId)
    .where('status', '=', 'unknown')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
