import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { dayInZone, isIsoDay, isKnownTimeZone } from '../dates.ts';
import { DomainError } from '../errors.ts';
import type { Subscriber } from './subscriber.table.ts';

/**
 * What a reader chooses about their digest (issue #10). Every field is optional in an update: only
 * those given change. Topics arrive already parsed and validated (src/subscribers/topics.ts); the
 * rest is checked here, so every caller (preference centre, CLI, tests) gets the same refusals.
 */
export interface Preferences {
  topics: string[];
  frequency: 'daily' | 'weekly';
  /** IANA name, e.g. Europe/Berlin, as Node's Intl knows it. */
  timeZone: string;
  /** Local wall-clock hour the digest is due, 0–23. */
  deliveryHour: number;
  /** No general section; an edition with nothing for the reader is not sent to them. */
  onlyMyTopics: boolean;
  /** Nothing is sent while the reader's local day is on or before this day; null: not paused. */
  pausedUntil: string | null;
  papersPerDigest: number;
}

export const DELIVERY_HOUR_RANGE = { min: 0, max: 23 } as const;
export const PAPERS_PER_DIGEST_RANGE = { min: 3, max: 30 } as const;

/** A refused preference: which field and why, for the form to show next to it. */
export class PreferenceError extends DomainError {
  constructor(
    readonly field: keyof Preferences,
    message: string,
  ) {
    super('invalid_request', message);
  }
}

function integerIn(value: number, range: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}

/**
 * Throws a PreferenceError for the first refused field. `now` decides what "a pause date in the
 * past" means: a day before today in the reader's (new, if given) zone.
 */
export function checkPreferences(prefs: Partial<Preferences>, current: Pick<Subscriber, 'time_zone'>, now: Date = new Date()): void {
  if (prefs.frequency !== undefined && prefs.frequency !== 'daily' && prefs.frequency !== 'weekly') {
    throw new PreferenceError('frequency', 'Choose daily or weekly.');
  }
  if (prefs.timeZone !== undefined && (prefs.timeZone.length > 64 || !isKnownTimeZone(prefs.timeZone))) {
    throw new PreferenceError('timeZone', 'Choose a time zone from the list, such as Europe/Berlin.');
  }
  if (prefs.deliveryHour !== undefined && !integerIn(prefs.deliveryHour, DELIVERY_HOUR_RANGE)) {
    throw new PreferenceError('deliveryHour', 'Choose an hour from 0 to 23.');
  }
  if (prefs.papersPerDigest !== undefined && !integerIn(prefs.papersPerDigest, PAPERS_PER_DIGEST_RANGE)) {
    throw new PreferenceError('papersPerDigest', `Choose from ${PAPERS_PER_DIGEST_RANGE.min} to ${PAPERS_PER_DIGEST_RANGE.max} papers.`);
  }
  if (prefs.onlyMyTopics !== undefined && typeof prefs.onlyMyTopics !== 'boolean') {
    throw new PreferenceError('onlyMyTopics', 'Choose whether to get only your topics.');
  }
  if (prefs.topics !== undefined && (!Array.isArray(prefs.topics) || prefs.topics.some((t) => typeof t !== 'string'))) {
    throw new PreferenceError('topics', 'Topics must be a list of words or phrases.');
  }
  if (prefs.pausedUntil !== undefined && prefs.pausedUntil !== null) {
    if (!isIsoDay(prefs.pausedUntil)) throw new PreferenceError('pausedUntil', 'Give the pause end as a date (YYYY-MM-DD).');
    const today = dayInZone(prefs.timeZone ?? current.time_zone, now);
    if (prefs.pausedUntil < today) throw new PreferenceError('pausedUntil', 'The pause must end today or later.');
  }
}

/**
 * Saves a reader's preferences (only the fields given) and returns the row as saved, or undefined
 * when there is no such reader. Refused input changes nothing (checked before any write). A change
 * applies from the next edition: editions already sent or fixed for a period are not touched.
 */
export async function updatePreferences(
  db: Executor,
  subscriberId: number,
  prefs: Partial<Preferences>,
  now: Date = new Date(),
): Promise<Subscriber | undefined> {
  const current = await db.selectFrom('subscribers').select(['time_zone']).where('id', '=', subscriberId).executeTakeFirst();
  if (!current) return undefined;
  checkPreferences(prefs, current, now);
  return db
    .updateTable('subscribers')
    .set({
      ...(prefs.topics !== undefined ? { topics: prefs.topics } : {}),
      ...(prefs.frequency !== undefined ? { frequency: prefs.frequency } : {}),
      ...(prefs.timeZone !== undefined ? { time_zone: prefs.timeZone } : {}),
      ...(prefs.deliveryHour !== undefined ? { delivery_hour: prefs.deliveryHour } : {}),
      ...(prefs.onlyMyTopics !== undefined ? { only_my_topics: prefs.onlyMyTopics } : {}),
      ...(prefs.pausedUntil !== undefined ? { paused_until: prefs.pausedUntil } : {}),
      ...(prefs.papersPerDigest !== undefined ? { papers_per_digest: prefs.papersPerDigest } : {}),
      updated_at: sql`now()`,
    })
    .where('id', '=', subscriberId)
    .returningAll()
    .executeTakeFirst();
}

/** The preferences of a subscriber row, in the shape updatePreferences takes. */
export function preferencesOf(subscriber: Subscriber): Preferences {
  return {
    topics: subscriber.topics,
    frequency: subscriber.frequency,
    timeZone: subscriber.time_zone,
    deliveryHour: subscriber.delivery_hour,
    onlyMyTopics: subscriber.only_my_topics,
    pausedUntil: subscriber.paused_until,
    papersPerDigest: subscriber.papers_per_digest,
  };
}
