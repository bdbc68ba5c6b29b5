import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { dayInZone } from '../dates.ts';
import { DomainError } from '../errors.ts';
import { checkPreferences, PreferenceError, preferencesOf, updatePreferences, type Preferences } from './preferences.ts';
import { signingSecret, subscriberForPreferences } from './mail-links.service.ts';
import type { Subscriber } from './subscriber.table.ts';
import { canonicalTimeZone, UNKNOWN_TIME_ZONE_MESSAGE } from './time-zones.ts';
import { createSubscriberToken, type VerificationSecrets } from './tokens.ts';
import { validateTopics } from './topics.ts';

/**
 * The preference centre behind the link in every digest (issue 10, item 6): no login, the signed
 * preferences token is the credential, as for the rest of /p/. Saving re-checks the token inside
 * the transaction that writes, so a link revoked meanwhile changes nothing.
 */

/** The form as posted: every field a string (HTML forms), or what a JSON client sends. */
export interface PreferencesForm {
  topics?: string | readonly string[];
  frequency?: string;
  timeZone?: string;
  deliveryHour?: string | number;
  papersPerDigest?: string | number;
  /** A checkbox: "on" when ticked; an HTML form leaves it out when not, so its route says 'off'. */
  onlyMyTopics?: string | boolean;
  /** YYYY-MM-DD, or empty: not paused. */
  pausedUntil?: string;
  /** The version the form was rendered from (formVersion); a mismatch means a stale form. */
  version?: string;
}

/** A form rendered before the preferences last changed: shown again, nothing saved. */
export class StaleFormError extends DomainError {
  constructor() {
    super('conflict', 'Your preferences changed after this page was opened (in another tab, perhaps). Here they are as saved now; make your changes again.');
  }
}

/**
 * The version a form carries: the row's updated_at in microseconds since the epoch, read by
 * Postgres itself (a JavaScript Date would keep only milliseconds, and two saves in one
 * millisecond would then look alike).
 */
const versionSql = sql<string>`(extract(epoch from updated_at) * 1000000)::bigint::text`;

export interface PreferenceCentre {
  subscriber: Subscriber;
  preferences: Preferences;
  version: string;
  unsubscribeToken: string;
}

/** What the page shows, from a live token; changes nothing. */
export async function openPreferenceCentre(db: Database, secrets: VerificationSecrets, token: string): Promise<PreferenceCentre> {
  const subscriber = await subscriberForPreferences(db, secrets, token);
  const { version } = await db.selectFrom('subscribers').select(versionSql.as('version')).where('id', '=', subscriber.id).executeTakeFirstOrThrow();
  return {
    subscriber,
    preferences: preferencesOf(subscriber),
    version,
    unsubscribeToken: createSubscriberToken(signingSecret(secrets), 'unsubscribe', subscriber.id, subscriber.token_version),
  };
}

const WHOLE_NUMBER = /^\s*\d{1,3}\s*$/;

function wholeNumber(value: string | number | undefined, field: 'deliveryHour' | 'papersPerDigest', message: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  if (!WHOLE_NUMBER.test(value)) throw new PreferenceError(field, message);
  return Number(value);
}

/**
 * The form's values as preferences, every field checked (topics against PostgreSQL too), or a
 * PreferenceError naming the first refused field. Fields left out stay as they are (an HTML
 * form leaves an unticked checkbox out: its route sends it as 'off').
 */
export async function parsePreferencesForm(db: Database, form: PreferencesForm, current: Subscriber, now: Date): Promise<Partial<Preferences>> {
  const prefs: Partial<Preferences> = {};
  if (form.topics !== undefined) {
    const topics = await validateTopics(db, form.topics);
    if (!topics.ok) throw new PreferenceError('topics', topics.message);
    prefs.topics = topics.topics;
  }
  if (form.frequency !== undefined) {
    if (form.frequency !== 'daily' && form.frequency !== 'weekly') throw new PreferenceError('frequency', 'Choose daily or weekly.');
    prefs.frequency = form.frequency;
  }
  if (form.timeZone !== undefined) {
    const zone = canonicalTimeZone(form.timeZone);
    if (!zone) throw new PreferenceError('timeZone', UNKNOWN_TIME_ZONE_MESSAGE);
    prefs.timeZone = zone;
  }
  prefs.deliveryHour = wholeNumber(form.deliveryHour, 'deliveryHour', 'Choose an hour from 0 to 23.');
  prefs.papersPerDigest = wholeNumber(form.papersPerDigest, 'papersPerDigest', 'Choose from 3 to 30 papers.');
  if (prefs.deliveryHour === undefined) delete prefs.deliveryHour;
  if (prefs.papersPerDigest === undefined) delete prefs.papersPerDigest;
  if (form.onlyMyTopics !== undefined) prefs.onlyMyTopics = form.onlyMyTopics === true || form.onlyMyTopics === 'on' || form.onlyMyTopics === 'true';
  if (form.pausedUntil !== undefined) prefs.pausedUntil = form.pausedUntil.trim() === '' ? null : form.pausedUntil.trim();
  if ((prefs.onlyMyTopics ?? current.only_my_topics) && (prefs.topics ?? current.topics).length === 0) {
    throw new PreferenceError('onlyMyTopics', 'Give at least one topic to get only your topics.');
  }
  // The same checks updatePreferences runs, now, so the refusal names its field before any write.
  checkPreferences(prefs, current, now);
  return prefs;
}

/**
 * Saves the form. Refused input (PreferenceError), a stale form (StaleFormError) or a token
 * revoked since the page was opened (404) change nothing: the row is locked and checked in the
 * transaction that writes it. The digest reads preferences when an edition is planned, so a
 * change applies from the next edition, never to one already under way.
 */
export async function savePreferences(
  db: Database,
  secrets: VerificationSecrets,
  token: string,
  form: PreferencesForm,
  now: Date = new Date(),
): Promise<Subscriber> {
  const before = await subscriberForPreferences(db, secrets, token);
  const prefs = await parsePreferencesForm(db, form, before, now);
  return db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('subscribers')
      .select(['id', 'token_version', versionSql.as('version')])
      .where('id', '=', before.id)
      .forUpdate()
      .executeTakeFirst();
    if (!locked || locked.token_version !== before.token_version) throw new DomainError('invalid_token', 'This preferences link is not valid.');
    if (form.version === undefined || form.version !== locked.version) throw new StaleFormError();
    const saved = await updatePreferences(trx, before.id, prefs, now);
    if (!saved) throw new DomainError('invalid_token', 'This preferences link is not valid.');
    return saved;
  });
}

/** The reader's local day now: the earliest a pause may end (the date input's min). */
export function todayFor(subscriber: Pick<Subscriber, 'time_zone'>, now: Date = new Date()): string {
  return dayInZone(subscriber.time_zone, now);
}
