import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export async function insertConfirmationToken(
  db: Executor,
  values: { subscriberId: number; tokenHash: Buffer; expiresAt: Date; signupRequestId: number | null },
): Promise<void> {
  await db
    .insertInto('confirmation_tokens')
    .values({ subscriber_id: values.subscriberId, token_hash: values.tokenHash, expires_at: values.expiresAt, signup_request_id: values.signupRequestId })
    .execute();
}

export async function findConfirmationToken(db: Executor, tokenHash: Buffer, options: { lock?: boolean } = {}) {
  let query = db
    .selectFrom('confirmation_tokens')
    .select(['id', 'subscriber_id', 'expires_at', 'used_at', 'signup_request_id'])
    .where('token_hash', '=', tokenHash);
  if (options.lock) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function markConfirmationTokenUsed(db: Executor, id: number): Promise<void> {
  await db.updateTable('confirmation_tokens').set({ used_at: sql`now()` }).where('id', '=', id).execute();
}

/**
 * When the newest unexpired, unused token for the mailbox (every spelling and sub-address of it:
 * subscribers.mailbox) was issued, if any: the confirmation cooldown is per person, not per row.
 */
export async function findLatestLiveTokenIssuedAtForMailbox(db: Executor, mailbox: string): Promise<Date | undefined> {
  const row = await db
    .selectFrom('confirmation_tokens')
    .innerJoin('subscribers', 'subscribers.id', 'confirmation_tokens.subscriber_id')
    .select('confirmation_tokens.created_at')
    .where('subscribers.mailbox', '=', mailbox)
    .where('confirmation_tokens.used_at', 'is', null)
    .where('confirmation_tokens.expires_at', '>', sql<Date>`now()`)
    .orderBy('confirmation_tokens.created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.created_at;
}

/** Confirmation tokens issued for the mailbox in the last `seconds` (the per-address budget). */
export async function countTokensIssuedForMailboxSince(db: Executor, mailbox: string, seconds: number): Promise<number> {
  const row = await db
    .selectFrom('confirmation_tokens')
    .innerJoin('subscribers', 'subscribers.id', 'confirmation_tokens.subscriber_id')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('subscribers.mailbox', '=', mailbox)
    .where('confirmation_tokens.created_at', '>', sql<Date>`now() - make_interval(secs => ${seconds})`)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Confirmation tokens issued in the last `seconds`, for every address: the global mail cap. */
export async function countConfirmationTokensIssuedSince(db: Executor, seconds: number): Promise<number> {
  const row = await db
    .selectFrom('confirmation_tokens')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('created_at', '>', sql<Date>`now() - make_interval(secs => ${seconds})`)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
