import { sql } from 'kysely';
import type { RateLimit } from '../config/rate-list.ts';
import type { Database, Executor } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { classifySmtpError } from '../delivery/smtp-errors.ts';
import {
  countConfirmationTokensIssuedSince,
  countTokensIssuedForMailboxSince,
  findConfirmationToken,
  findLatestLiveTokenIssuedAtForMailbox,
  insertConfirmationToken,
  markConfirmationTokenUsed,
} from './confirmation-token.repository.ts';
import { DATA_ACCESS_VALID_MINUTES, renderDataAccessEmail } from './data-access-email.ts';
import { CONFIRMATION_VALID_HOURS, renderConfirmationEmail } from './confirmation-email.ts';
import { emailProblemMessages, normaliseEmailAddress } from './email-address.ts';
import { collectPersonalData, type PersonalDataExport } from './personal-data.ts';
import {
  activateSubscriber,
  addSignupRequest,
  deleteSubscriber,
  findLatestSignupRequest,
  findSignupRequest,
  findSubscriberById,
  markUnsubscribed,
  recordSignupRequest,
} from './subscriber.repository.ts';
import type { Subscriber } from './subscriber.table.ts';
import { addSuppression, removeSuppression, suppressionHash } from './suppression.repository.ts';
import {
  CONFIRMATION_TOKEN_SHAPE,
  createSubscriberToken,
  generateConfirmationToken,
  hashToken,
  verifySubscriberToken,
  type TokenPurpose,
  type VerificationSecrets,
} from './tokens.ts';
import { PreferenceError } from './preferences.ts';
import { canonicalTimeZone, UNKNOWN_TIME_ZONE_MESSAGE } from './time-zones.ts';
import { validateTopics } from './topics.ts';

export interface SubscribeInput {
  email: string;
  /** As typed: src/subscribers/topics.ts parses and checks them. */
  topics: string | readonly string[] | undefined;
  /** An IANA name (src/subscribers/time-zones.ts); empty or absent: UTC. */
  timeZone: string | undefined;
  ip: string;
  userAgent: string | null;
  form: string;
}

/** Re-sending a confirmation inside this window is suppressed, however often it is requested. */
export const CONFIRMATION_RESEND_WINDOW_MS = 10 * 60 * 1000;

/**
 * Records a sign-up request and queues the worker that decides whether to mail a confirmation.
 * The caller answers the same whatever the address's state, and nothing about an existing person
 * changes here: the request's details apply only when its confirmation link is used. All email
 * work, and every per-address limit, happens in the queue, so no answer depends on the address.
 */
/** What the subscription flows need to queue mail; src/app/jobs.ts implements it on the queues. */
export interface SubscriptionJobs {
  enqueueConfirmation(subscriberId: number): Promise<void>;
  enqueueDataAccess(subscriberId: number): Promise<void>;
  /** After a confirmation: the latest edition at once (src/delivery/welcome.ts), when configured. */
  enqueueWelcome(subscriberId: number): Promise<void>;
}

export async function subscribe(deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueConfirmation'>, input: SubscribeInput): Promise<void> {
  const parsed = normaliseEmailAddress(input.email);
  if (!parsed.ok) throw new DomainError('invalid_email', emailProblemMessages[parsed.problem]);
  const topics = await validateTopics(deps.db, input.topics);
  if (!topics.ok) throw new PreferenceError('topics', topics.message);
  // Filled in by the browser (public/subscribe.js) or chosen from the list; empty means UTC.
  let timeZone = 'UTC';
  if (input.timeZone !== undefined && input.timeZone.trim() !== '') {
    const zone = canonicalTimeZone(input.timeZone);
    if (!zone) throw new PreferenceError('timeZone', UNKNOWN_TIME_ZONE_MESSAGE);
    timeZone = zone;
  }
  const subscriberId = await recordSignupRequest(deps.db, {
    kind: 'subscribed',
    email: parsed.address,
    topics: topics.topics,
    timeZone,
    ip: input.ip,
    userAgent: input.userAgent,
    source: input.form,
  });
  await deps.enqueueConfirmation(subscriberId);
}

export interface ConfirmationMailDeps {
  db: Database;
  mailer: Mailer;
  publicUrl: string;
  mailFrom: { name: string; address: string };
  /** Confirmation emails per hour across all addresses; 0 or absent: no cap. */
  maxPerHour?: number;
  /** Confirmation emails per mailbox (every spelling and sub-address together) per window. */
  perMailbox?: readonly RateLimit[];
}

/**
 * Worker side of a sign-up: issues a fresh token for the newest request (only its hash is stored)
 * and mails the link. The per-person limits live here, counted by mailbox (lower-cased, `+tag`
 * removed), so Dave@, dave@ and dave+x@ share them, and no HTTP answer can reveal them.
 */
export async function sendConfirmationEmail(
  deps: ConfirmationMailDeps,
  subscriberId: number,
): Promise<'sent' | 'not_needed' | 'recently_sent' | 'over_address_limit' | 'over_hourly_cap' | 'rejected'> {
  const subscriber = await findSubscriberById(deps.db, subscriberId);
  if (!subscriber || (subscriber.status !== 'pending' && subscriber.status !== 'unsubscribed')) return 'not_needed';
  const lastIssued = await findLatestLiveTokenIssuedAtForMailbox(deps.db, subscriber.mailbox);
  if (lastIssued && Date.now() - lastIssued.getTime() < CONFIRMATION_RESEND_WINDOW_MS) return 'recently_sent';
  for (const limit of deps.perMailbox ?? []) {
    if ((await countTokensIssuedForMailboxSince(deps.db, subscriber.mailbox, limit.windowMs / 1000)) >= limit.max) return 'over_address_limit';
  }
  // A flood of sign-ups for many addresses (which per-IP and per-address limits cannot see) must
  // not turn us into a mail cannon: past the hourly cap, requests are dropped; people can retry.
  if (deps.maxPerHour && (await countConfirmationTokensIssuedSince(deps.db, 3600)) >= deps.maxPerHour) return 'over_hourly_cap';

  const token = generateConfirmationToken();
  const tokenHash = hashToken(token);
  const expiresAt = new Date(Date.now() + CONFIRMATION_VALID_HOURS * 3600 * 1000);
  const request = await findLatestSignupRequest(deps.db, subscriberId);
  await insertConfirmationToken(deps.db, { subscriberId, tokenHash, expiresAt, signupRequestId: request?.id ?? null });
  const email = await renderConfirmationEmail(`${deps.publicUrl}/confirm/${token}`);
  try {
    await deps.mailer.send({
      from: deps.mailFrom,
      // The spelling typed in this request: the one the person will recognise.
      to: { name: '', address: request?.email ?? subscriber.email },
      subject: email.subject,
      html: email.html,
      text: email.text,
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
  } catch (error) {
    // Without the mail the token is useless, and keeping it would block the retry by the window.
    await deps.db.deleteFrom('confirmation_tokens').where('token_hash', '=', tokenHash).execute();
    // The same classifier as the digest: only a transient failure (4xx, a dropped connection) is
    // worth a retry by the queue; a permanent one will not change, so give up instead of hammering.
    if (classifySmtpError(error).kind !== 'transient') return 'rejected';
    throw error;
  }
  return 'sent';
}

export type ConfirmationState = 'valid' | 'already_confirmed' | 'expired' | 'invalid';

async function lookUpConfirmation(db: Database, token: string) {
  if (!CONFIRMATION_TOKEN_SHAPE.test(token)) return undefined;
  return findConfirmationToken(db, hashToken(token));
}

/** What the confirm page should show for a token, without changing anything (GET is safe). */
export async function inspectConfirmationToken(db: Database, token: string): Promise<ConfirmationState> {
  const row = await lookUpConfirmation(db, token);
  if (!row) return 'invalid';
  if (row.used_at) return 'already_confirmed';
  if (row.expires_at.getTime() <= Date.now()) return 'expired';
  return 'valid';
}

/** Confirms a subscription. Idempotent: a used token answers `already_confirmed`. */
export async function confirmSubscription(
  db: Database,
  token: string,
  request: { ip: string; userAgent: string | null },
  jobs?: Pick<SubscriptionJobs, 'enqueueWelcome'>,
): Promise<'confirmed' | 'already_confirmed'> {
  if (!CONFIRMATION_TOKEN_SHAPE.test(token)) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
  let confirmedId: number | undefined;
  const result = await db.transaction().execute(async (trx): Promise<'confirmed' | 'already_confirmed'> => {
    const row = await findConfirmationToken(trx, hashToken(token), { lock: true });
    if (!row) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
    if (row.used_at) return 'already_confirmed';
    if (row.expires_at.getTime() <= Date.now()) {
      throw new DomainError('expired_token', 'This confirmation link has expired. Please subscribe again to get a new one.');
    }
    const subscriber = await findSubscriberById(trx, row.subscriber_id);
    if (!subscriber) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
    await markConfirmationTokenUsed(trx, row.id);
    if (subscriber.status === 'pending' || subscriber.status === 'unsubscribed') {
      const signup = row.signup_request_id ? await findSignupRequest(trx, row.signup_request_id) : undefined;
      await activateSubscriber(trx, subscriber.id, signup, request);
      // A proven new opt-in lifts an earlier erasure's suppression.
      await removeSuppression(trx, suppressionHash(signup?.email ?? subscriber.email));
      confirmedId = subscriber.id;
      return 'confirmed';
    }
    return 'already_confirmed';
  });
  // After the commit, so the worker finds the reader active.
  if (confirmedId !== undefined && jobs) await jobs.enqueueWelcome(confirmedId);
  return result;
}

/** The subscriber id of `paperboy doctor`'s one-click probe link (src/ops/doctor.ts). */
export const PROBE_SUBSCRIBER_ID = 0;

async function subscriberFromLinkToken(db: Executor, secrets: VerificationSecrets, purpose: TokenPurpose, token: string) {
  const verified = verifySubscriberToken(secrets, purpose, token);
  if (!verified) return undefined;
  const subscriber = await findSubscriberById(db, verified.subscriberId);
  // Bumping token_version revokes every link issued before.
  if (!subscriber || subscriber.token_version !== verified.version) return undefined;
  return subscriber;
}

/** Signing uses the first secret only; the rest are accepted while links signed with them live. */
export const signingSecret = (secrets: VerificationSecrets) => (typeof secrets === 'string' ? secrets : secrets[0]!);

export type LinkState = { subscribed: boolean; email: string; preferencesToken: string } | undefined;

/** For the unsubscribe page: whether the link is valid and the current state, changing nothing. */
export async function inspectUnsubscribeToken(db: Database, secrets: VerificationSecrets, token: string): Promise<LinkState> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) return undefined;
  return {
    subscribed: subscriber.status === 'active' || subscriber.status === 'pending',
    email: subscriber.email,
    // The page links on to the preferences page with a token of that purpose.
    preferencesToken: createSubscriberToken(signingSecret(secrets), 'preferences', subscriber.id, subscriber.token_version),
  };
}

export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
}

/** Unsubscribes at once. Idempotent; a forged or altered token changes nothing. */
export async function unsubscribe(
  db: Database,
  secrets: VerificationSecrets,
  token: string,
  source: 'one-click' | 'page',
  origin: RequestOrigin,
): Promise<'unsubscribed' | 'already_unsubscribed' | 'probe'> {
  // `paperboy doctor` proves the one-click endpoint works end to end with a signed link for the
  // probe id, which no person has (ids start at 1): answered like any one-click, changing nothing.
  if (verifySubscriberToken(secrets, 'unsubscribe', token)?.subscriberId === PROBE_SUBSCRIBER_ID) return 'probe';
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This unsubscribe link is not valid.');
  return (await markUnsubscribed(db, subscriber.id, source, origin)) ? 'unsubscribed' : 'already_unsubscribed';
}

/**
 * Resubscribing through an unsubscribe link: the link sits in every old digest (and every
 * forwarded one), so it proves nothing today. It only asks for a new opt-in: a confirmation email
 * goes to the address, and the person is subscribed again when they confirm.
 */
export async function resubscribe(
  deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueConfirmation'>,
  secrets: VerificationSecrets,
  token: string,
  origin: RequestOrigin,
): Promise<'confirmation_sent' | 'already_subscribed' | 'not_possible'> {
  const subscriber = await subscriberFromLinkToken(deps.db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This link is not valid.');
  if (subscriber.status === 'active') return 'already_subscribed';
  if (subscriber.status !== 'unsubscribed' && subscriber.status !== 'pending') return 'not_possible';
  await addSignupRequest(deps.db, subscriber.id, {
    kind: 'resubscribed',
    email: subscriber.email,
    topics: subscriber.topics,
    timeZone: subscriber.time_zone,
    ip: origin.ip,
    userAgent: origin.userAgent,
    source: 'resubscribe link',
  });
  await deps.enqueueConfirmation(subscriber.id);
  return 'confirmation_sent';
}

/** The reader behind a live preferences link; a forged, altered or revoked one is a 404. */
export async function subscriberForPreferences(db: Executor, secrets: VerificationSecrets, token: string): Promise<Subscriber> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'preferences', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This preferences link is not valid.');
  return subscriber;
}

/**
 * "Email me a link to download or erase my data", from the preferences page. The long-lived
 * preferences link itself sits in every digest, so it can only ask for a short-lived link to be
 * mailed to the address: only someone who reads that mailbox gets to export or erase.
 */
export async function requestDataAccessLink(
  deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueDataAccess'>,
  secrets: VerificationSecrets,
  token: string,
): Promise<void> {
  const subscriber = await subscriberForPreferences(deps.db, secrets, token);
  await deps.enqueueDataAccess(subscriber.id);
}

/** At most one data link per person per this window, however often it is asked for. */
export const DATA_ACCESS_RESEND_WINDOW_MS = 2 * 60 * 1000;

/** Worker side: a fresh 256-bit token (only its hash stored), valid for an hour, mailed to the address. */
export async function sendDataAccessEmail(deps: ConfirmationMailDeps, subscriberId: number): Promise<'sent' | 'not_needed' | 'recently_sent'> {
  const subscriber = await findSubscriberById(deps.db, subscriberId);
  if (!subscriber) return 'not_needed';
  const recent = await deps.db
    .selectFrom('data_access_tokens')
    .select('id')
    .where('subscriber_id', '=', subscriberId)
    .where('created_at', '>', sql<Date>`now() - make_interval(secs => ${DATA_ACCESS_RESEND_WINDOW_MS / 1000})`)
    .executeTakeFirst();
  if (recent) return 'recently_sent';
  const token = generateConfirmationToken();
  const tokenHash = hashToken(token);
  await deps.db
    .insertInto('data_access_tokens')
    .values({ subscriber_id: subscriberId, token_hash: tokenHash, expires_at: new Date(Date.now() + DATA_ACCESS_VALID_MINUTES * 60_000) })
    .execute();
  const email = await renderDataAccessEmail(`${deps.publicUrl}/data/${token}`);
  try {
    await deps.mailer.send({
      from: deps.mailFrom,
      to: { name: '', address: subscriber.email },
      subject: email.subject,
      html: email.html,
      text: email.text,
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
  } catch (error) {
    await deps.db.deleteFrom('data_access_tokens').where('token_hash', '=', tokenHash).execute();
    throw error;
  }
  return 'sent';
}

/** The subscriber behind a live data link. */
async function subscriberFromDataToken(db: Database, token: string): Promise<Subscriber> {
  const row = CONFIRMATION_TOKEN_SHAPE.test(token)
    ? await db.selectFrom('data_access_tokens').select(['subscriber_id', 'expires_at']).where('token_hash', '=', hashToken(token)).executeTakeFirst()
    : undefined;
  if (!row) throw new DomainError('invalid_token', 'This link is not valid. Ask for a new one on your preferences page.');
  if (row.expires_at.getTime() <= Date.now()) throw new DomainError('expired_token', 'This link has expired. Ask for a new one on your preferences page.');
  const subscriber = await findSubscriberById(db, row.subscriber_id);
  if (!subscriber) throw new DomainError('invalid_token', 'This link is not valid.');
  return subscriber;
}

/** For the data page: whose data the link opens; changes nothing. */
export async function inspectDataAccessToken(db: Database, token: string): Promise<{ email: string }> {
  const subscriber = await subscriberFromDataToken(db, token);
  return { email: subscriber.email };
}

/** The person's own data, as JSON, through a fresh data link. */
export async function exportPersonalData(db: Database, token: string): Promise<PersonalDataExport> {
  return collectPersonalData(db, await subscriberFromDataToken(db, token));
}

/**
 * Erases the person (through a fresh data link): the row and everything hanging off it go; only
 * a hash of the address stays on the suppression list, so the address comes back only through a
 * new, confirmed opt-in. Addresses are unique case-insensitively, so this is the one person.
 */
export async function erasePersonalData(db: Database, token: string): Promise<'erased'> {
  await eraseSubscriber(db, await subscriberFromDataToken(db, token));
  return 'erased';
}

/** The erasure itself, for the person's own data link and for an operator (the admin console). */
export async function eraseSubscriber(db: Database, subscriber: Pick<Subscriber, 'id' | 'email'>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await addSuppression(trx, suppressionHash(subscriber.email), 'erased');
    await deleteSubscriber(trx, subscriber.id);
  });
}

/**
 * An operator stops all mail to a person (abuse report, a request by other means): unsubscribed
 * with the reason in the consent history, and the address on the suppression list, so neither a
 * CSV import nor anything short of a new confirmed opt-in brings it back. Returns whether it changed anything.
 */
export async function suppressSubscriber(db: Database, subscriber: Pick<Subscriber, 'id' | 'email'>, source: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const hash = suppressionHash(subscriber.email);
    const already = await trx.selectFrom('suppressions').select('reason').where('address_hash', '=', hash).executeTakeFirst();
    await addSuppression(trx, hash, 'operator');
    const unsubscribed = await markUnsubscribed(trx, subscriber.id, source, { ip: null, userAgent: null });
    return unsubscribed || !already;
  });
}
