import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export async function insertConfirmationToken(
  db: Executor,
  values: { subscriberId: number; tokenHash: Buffer; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('confirmation_tokens')
    .values({ subscriber_id: values.subscriberId, token_hash: values.tokenHash, expires_at: values.expiresAt })
    .execute();
}

export async function findConfirmationToken(db: Executor, tokenHash: Buffer, options: { lock?: boolean } = {}) {
  let query = db
    .selectFrom('confirmation_tokens')
    .select(['id', 'subscriber_id', 'expires_at', 'used_at'])
    .where('token_hash', '=', tokenHash);
  if (options.lock) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function markConfirmationTokenUsed(db: Executor, id: number): Promise<void> {
  await db.updateTable('confirmation_tokens').set({ used_at: sql`now()` }).where('id', '=', id).execute();
}

/** When the newest unexpired, unused token for the subscriber was issued, if any. */
export async function findLatestLiveTokenIssuedAt(db: Executor, subscriberId: number): Promise<Date | undefined> {
  const row = await db
    .selectFrom('confirmation_tokens')
    .select('created_at')
    .where('subscriber_id', '=', subscriberId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.created_at;
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
