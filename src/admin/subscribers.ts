import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { collectPersonalData } from '../subscribers/personal-data.ts';
import { countSubscribersByStatus, findSubscriberById } from '../subscribers/subscriber.repository.ts';
import { suppressionHash } from '../subscribers/suppression.repository.ts';

export const SEARCH_LIMIT = 50;
export type SearchMatch = 'prefix' | 'exact';

/** `%`, `_` and the escape character itself match literally in a LIKE pattern (escape '\'). */
export const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Subscribers by address, case-insensitively: the whole address, or addresses starting with the
 * text. The text is a bound parameter, and LIKE's wildcards in it are escaped, so `%` finds only
 * addresses containing `%` and quotes are just characters.
 */
export async function searchSubscribers(db: Executor, text: string, match: SearchMatch) {
  const needle = text.trim().toLowerCase();
  if (needle.length === 0) return [];
  return db
    .selectFrom('subscribers')
    .select(['id', 'email', 'status', 'created_at', 'confirmed_at'])
    .where(match === 'exact' ? sql<boolean>`lower(email) = ${needle}` : sql<boolean>`lower(email) like ${`${escapeLike(needle)}%`} escape '\\'`)
    .orderBy(sql`lower(email)`)
    .limit(SEARCH_LIMIT)
    .execute();
}

export const subscriberCounts = countSubscribersByStatus;

/** One person for the console: the same record their own data export shows, and the suppression. */
export async function subscriberDetail(db: Executor, id: number) {
  const subscriber = await findSubscriberById(db, id);
  if (!subscriber) return undefined;
  const [data, suppression] = await Promise.all([
    collectPersonalData(db, subscriber),
    db.selectFrom('suppressions').select(['reason', 'created_at']).where('address_hash', '=', suppressionHash(subscriber.email)).executeTakeFirst(),
  ]);
  const statusSuppression = subscriber.status === 'bounced' ? 'hard bounce' : subscriber.status === 'complained' ? 'marked as spam' : null;
  return {
    id: subscriber.id,
    tokenVersion: subscriber.token_version,
    data,
    suppressedBecause: suppression ? (suppression.reason === 'operator' ? 'suppressed by an operator' : suppression.reason) : statusSuppression,
    suppressedAt: suppression?.created_at.toISOString() ?? subscriber.last_bounce_at?.toISOString() ?? null,
    mailable: subscriber.status === 'active' || subscriber.status === 'pending',
  };
}
