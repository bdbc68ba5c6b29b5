import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { ConsentRecord, Subscriber, SubscriberStatus } from './subscriber.table.ts';

export async function findSubscriberById(db: Executor, id: number): Promise<Subscriber | undefined> {
  return db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Records a sign-up in one statement, whatever the address's state, so the request path (and its
 * timing) is the same for new, pending, active, unsubscribed and bounced addresses. A new address
 * becomes pending; a pending or unsubscribed one gets the new details (and a new confirmation);
 * an active, bounced or complained one is left as it is.
 */
export async function upsertSignup(
  db: Executor,
  values: { email: string; topics: string[]; timeZone: string; consent: ConsentRecord },
): Promise<number> {
  const renewable = sql`subscribers.status in ('pending', 'unsubscribed')`;
  const row = await db
    .insertInto('subscribers')
    .values({
      email: values.email,
      status: 'pending',
      topics: values.topics,
      time_zone: values.timeZone,
      consent: JSON.stringify(values.consent),
    })
    .onConflict((oc) =>
      oc.column('email').doUpdateSet({
        topics: sql`case when ${renewable} then excluded.topics else subscribers.topics end`,
        time_zone: sql`case when ${renewable} then excluded.time_zone else subscribers.time_zone end`,
        consent: sql`case when ${renewable} then excluded.consent else subscribers.consent end`,
        updated_at: sql`case when ${renewable} then now() else subscribers.updated_at end`,
      }),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Erasure: the row goes, and with it (cascade) tokens, ledger rows and sent papers. */
export async function deleteSubscriber(db: Executor, id: number): Promise<boolean> {
  const result = await db.deleteFrom('subscribers').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Revokes every link issued so far (unsubscribe and preferences tokens carry the version). */
export async function bumpTokenVersion(db: Executor, id: number): Promise<number | undefined> {
  const row = await db
    .updateTable('subscribers')
    .set({ token_version: sql`token_version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .returning('token_version')
    .executeTakeFirst();
  return row?.token_version;
}

export async function activateSubscriber(
  trx: Executor,
  id: number,
  confirmation: { ip: string; userAgent: string | null },
): Promise<void> {
  await trx
    .updateTable('subscribers')
    .set({
      status: 'active',
      confirmed_at: sql`now()`,
      unsubscribed_at: null,
      unsubscribe_source: null,
      consent: sql`coalesce(consent, '{}'::jsonb) || jsonb_build_object('confirmedAt', now(), 'confirmIp', ${confirmation.ip}::text, 'confirmUserAgent', ${confirmation.userAgent}::text)`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** Moves an active or pending subscriber to unsubscribed; returns whether this call changed it. */
export async function markUnsubscribed(db: Executor, id: number, source: string): Promise<boolean> {
  const result = await db
    .updateTable('subscribers')
    .set({ status: 'unsubscribed', unsubscribed_at: sql`now()`, unsubscribe_source: source, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', ['active', 'pending'])
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Undoes an unsubscribe made through the person's own link (never revives bounced addresses). */
export async function markResubscribed(db: Executor, id: number): Promise<boolean> {
  const result = await db
    .updateTable('subscribers')
    .set({ status: 'active', unsubscribed_at: null, unsubscribe_source: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'unsubscribed')
    .where('confirmed_at', 'is not', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function countSubscribersByStatus(db: Executor): Promise<Record<SubscriberStatus, number>> {
  const rows = await db
    .selectFrom('subscribers')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const counts: Record<SubscriberStatus, number> = { pending: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** A hard bounce suppresses the address: it receives nothing until it opts in again. */
export async function markSubscriberBounced(db: Executor, id: number): Promise<void> {
  await db
    .updateTable('subscribers')
    .set({
      status: 'bounced',
      bounce_count: sql`bounce_count + 1`,
      last_bounce_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .execute();
}
